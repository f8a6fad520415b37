#!/usr/bin/env bash
# Included by init.sh, join.sh and control-plane-settings.sh (see
# components/scripts.py), after the preamble: put the CA the API server's
# --oidc-ca-file names in place before kube-apiserver starts with it.
# OIDC_CA_PEM empty: nothing to do.
write_oidc_ca() {
  if [[ -z ${OIDC_CA_PEM-} ]]; then
    return 0
  fi
  install -d -m 0755 "$(dirname "$R$OIDC_CA_FILE")"
  printf '%s\n' "$OIDC_CA_PEM" >"$R$OIDC_CA_FILE.new"
  mv -f "$R$OIDC_CA_FILE.new" "$R$OIDC_CA_FILE"
}

#!/usr/bin/env bash
# Kasparro on Azure, with the az CLI (logged in: `az login`). docs/deployment.md ("Azure") walks
# through it. Every command is safe to repeat.
#
#   deploy.sh up                 create or complete everything: resource group, managed identity,
#                                Key Vault (with the settings), Log Analytics workspace and data
#                                collection rule, the VM (cloud-init.yaml) and its monitoring agent
#   deploy.sh status             the stack on the VM: unit, containers, /health
#   deploy.sh reload             re-read the settings and the image's compose files, apply them
#   deploy.sh set-image TAG|REF  run another image (upgrade or roll back): 0.3.0 keeps the
#                                repository and changes the tag; a full ghcr.io/... reference also works
#   deploy.sh images             the images this deployment has run, newest first
#   deploy.sh config NAME [VALUE]  set a setting (an .env line, e.g. COINCAP_API_KEY); without
#                                VALUE it is read from the terminal, unechoed; then reload
#   deploy.sh unset NAME         disable a setting in Key Vault (its default applies), then reload
#
# Settings, from the environment (defaults in brackets):
#   NAME [kasparro]   prefix of every resource name, at most 11 letters, digits or dashes
#   LOCATION [westeurope]  RESOURCE_GROUP [$NAME-rg]  VM_SIZE [Standard_B2s]
#   IMAGE             the image to run, e.g. ghcr.io/OWNER/kasparro:0.2.0 (needed by the first `up`)
#   DOMAIN            a DNS name of yours pointing at the VM [the VM's own
#                     <label>.<location>.cloudapp.azure.com]
#   SSH_SOURCE        an address range allowed to SSH in, e.g. 203.0.113.7/32 [none: SSH
#                     stays closed; `az vm run-command invoke` still runs commands]
#   SSH_PUBLIC_KEY    the admin user's public key file [~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub]
#   OPERATOR_OBJECT_ID  who may change the settings [the signed-in user]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
NAME=${NAME:-kasparro}
LOCATION=${LOCATION:-westeurope}
RESOURCE_GROUP=${RESOURCE_GROUP:-$NAME-rg}
VM_SIZE=${VM_SIZE:-Standard_B2s}
VM=$NAME-vm
IDENTITY=$NAME-id
WORKSPACE=$NAME-logs
DCR=$NAME-syslog
UBUNTU=Canonical:ubuntu-24_04-lts:server:latest

log() { echo "deploy.sh: $*" >&2; }
die() { log "$*"; exit 1; }

[[ $NAME =~ ^[a-z][a-z0-9-]{0,10}$ ]] || die "NAME must be 1 to 11 lower-case letters, digits or dashes (Key Vault names are short)"

subscription() { az account show --query id -o tsv; }

# Globally unique names (Key Vault, DNS label), the same on every run for this resource group.
suffix() { printf '%s' "$(subscription)/$RESOURCE_GROUP" | sha256sum | cut -c1-6; }
vault_name() { echo "$NAME-kv-$(suffix)"; }
dns_label() { echo "$NAME-$(suffix)"; }

# Setting NAME_X is the Key Vault secret NAME-X (secret names allow no underscore).
secret_name() {
  [[ $1 =~ ^[A-Z][A-Z0-9_]*$ ]] || die "a setting's name is upper case, digits and underscores: $1"
  echo "${1//_/-}"
}

# Writes a secret from a file, so that its value never shows in the process list.
secret_set() {
  local vault=$1 name=$2 value=$3 file
  file=$(mktemp)
  chmod 600 "$file"
  printf '%s' "$value" >"$file"
  az keyvault secret set --vault-name "$vault" --name "$name" --file "$file" --encoding utf-8 --output none
  rm -f "$file"
}

# Lists the vault's secrets, waiting while a new role assignment reaches Key Vault: only a
# list that succeeded tells a missing secret from a forbidden one.
secret_names() {
  local vault=$1 attempt
  for attempt in $(seq 1 20); do
    if az keyvault secret list --vault-name "$vault" --query '[].name' -o tsv 2>/dev/null; then
      return 0
    fi
    log "Key Vault $vault does not let you in yet (attempt $attempt of 20); waiting for the role assignment"
    sleep 15
  done
  die "Key Vault $vault refuses you: you need Key Vault Secrets Officer on it"
}

role_assign() {
  local principal=$1 type=$2 role=$3 scope=$4
  # Filtered here rather than by --assignee, which asks Microsoft Graph, where a new identity
  # can take a while to appear.
  if [[ -z $(az role assignment list --scope "$scope" \
    --query "[?principalId=='$principal' && roleDefinitionName=='$role'].id" -o tsv) ]]; then
    az role assignment create --assignee-object-id "$principal" --assignee-principal-type "$type" \
      --role "$role" --scope "$scope" --output none
  fi
}

run_on_vm() {
  az vm run-command invoke --resource-group "$RESOURCE_GROUP" --name "$VM" --command-id RunShellScript \
    --scripts "$1" --query 'value[0].message' -o tsv
}

cmd_up() {
  local vault sub identity_id client_id principal_id vault_id operator names workspace_id dcr_id vm_id
  local domain ssh_key
  vault=$(vault_name)
  sub=$(subscription)
  log "subscription $sub, resource group $RESOURCE_GROUP in $LOCATION"

  local namespace
  for namespace in Microsoft.Compute Microsoft.Network Microsoft.KeyVault Microsoft.ManagedIdentity \
    Microsoft.OperationalInsights Microsoft.Insights; do
    az provider register --namespace "$namespace" --wait --output none
  done

  az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none

  az identity create --resource-group "$RESOURCE_GROUP" --name "$IDENTITY" --output none
  read -r identity_id client_id principal_id < <(az identity show --resource-group "$RESOURCE_GROUP" \
    --name "$IDENTITY" --query '[id, clientId, principalId]' -o tsv | tr '\n' ' ')

  if ! az keyvault show --name "$vault" --output none 2>/dev/null; then
    az keyvault create --name "$vault" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
      --enable-rbac-authorization true --retention-days 7 --output none
  fi
  vault_id=$(az keyvault show --name "$vault" --query id -o tsv)
  # Before the VM exists, so that the role has reached Key Vault by the time the VM asks.
  role_assign "$principal_id" ServicePrincipal "Key Vault Secrets User" "$vault_id"
  operator=${OPERATOR_OBJECT_ID:-$(az ad signed-in-user show --query id -o tsv)}
  role_assign "$operator" "${OPERATOR_PRINCIPAL_TYPE:-User}" "Key Vault Secrets Officer" "$vault_id"

  names=$(secret_names "$vault")
  # Generated once: a new SECRET_KEY logs everyone out; a new POSTGRES_PASSWORD would no longer
  # match the database's volume.
  if ! grep -qx SECRET-KEY <<<"$names"; then
    secret_set "$vault" SECRET-KEY "$(openssl rand -base64 48 | tr -d '\n')"
  fi
  if ! grep -qx POSTGRES-PASSWORD <<<"$names"; then
    secret_set "$vault" POSTGRES-PASSWORD "$(openssl rand -hex 24)"
  fi
  if [[ -n ${IMAGE:-} ]]; then
    # Only a change makes a new version: the versions are the history `images` shows.
    if [[ $(az keyvault secret show --vault-name "$vault" --name KASPARRO-IMAGE --query value -o tsv 2>/dev/null) != "$IMAGE" ]]; then
      secret_set "$vault" KASPARRO-IMAGE "$IMAGE"
    fi
  elif ! grep -qx KASPARRO-IMAGE <<<"$names"; then
    die "set IMAGE, e.g. IMAGE=ghcr.io/OWNER/kasparro:0.2.0 (the image workflow publishes it)"
  fi

  az monitor log-analytics workspace create --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" \
    --location "$LOCATION" --output none
  workspace_id=$(az monitor log-analytics workspace show --resource-group "$RESOURCE_GROUP" \
    --workspace-name "$WORKSPACE" --query id -o tsv)
  dcr_id=/subscriptions/$sub/resourceGroups/$RESOURCE_GROUP/providers/Microsoft.Insights/dataCollectionRules/$DCR
  # The containers log to journald and journald to syslog (cloud-init.yaml): facility user for
  # the containers, daemon for Docker, Caddy and the kasparro unit.
  az rest --method put --url "$dcr_id?api-version=2022-06-01" --output none --body "$(cat <<EOF
{
  "location": "$LOCATION",
  "kind": "Linux",
  "properties": {
    "description": "Kasparro: the VM's syslog, which carries every container's log lines",
    "dataSources": {
      "syslog": [{
        "name": "kasparro",
        "streams": ["Microsoft-Syslog"],
        "facilityNames": ["user", "daemon"],
        "logLevels": ["Info", "Notice", "Warning", "Error", "Critical", "Alert", "Emergency"]
      }]
    },
    "destinations": {"logAnalytics": [{"name": "workspace", "workspaceResourceId": "$workspace_id"}]},
    "dataFlows": [{"streams": ["Microsoft-Syslog"], "destinations": ["workspace"]}]
  }
}
EOF
)"

  domain=${DOMAIN:-$(dns_label).$LOCATION.cloudapp.azure.com}
  if ! az vm show --resource-group "$RESOURCE_GROUP" --name "$VM" --output none 2>/dev/null; then
    ssh_key=${SSH_PUBLIC_KEY:-}
    if [[ -z $ssh_key ]]; then
      for ssh_key in ~/.ssh/id_ed25519.pub ~/.ssh/id_rsa.pub; do [[ -f $ssh_key ]] && break; done
    fi
    [[ -f $ssh_key ]] || die "no SSH public key: set SSH_PUBLIC_KEY (ssh-keygen -t ed25519 makes one)"
    log "creating VM $VM for https://$domain"
    az vm create --resource-group "$RESOURCE_GROUP" --name "$VM" --location "$LOCATION" \
      --image "$UBUNTU" --size "$VM_SIZE" --os-disk-size-gb 32 \
      --admin-username kasparro --ssh-key-values "$ssh_key" \
      --assign-identity "$identity_id" \
      --public-ip-sku Standard --public-ip-address-dns-name "$(dns_label)" \
      --nsg-rule NONE \
      --custom-data "$here/cloud-init.yaml" \
      --tags "kasparro-vault=$vault" "kasparro-identity=$client_id" "kasparro-domain=$domain" \
      --output none
  elif [[ -n ${DOMAIN:-} ]]; then
    az vm update --resource-group "$RESOURCE_GROUP" --name "$VM" --set "tags.kasparro-domain=$DOMAIN" --output none
    log "the VM reads its new tag within minutes; then: deploy.sh reload"
  fi
  vm_id=$(az vm show --resource-group "$RESOURCE_GROUP" --name "$VM" --query id -o tsv)

  az vm open-port --resource-group "$RESOURCE_GROUP" --name "$VM" --port 80,443 --priority 900 --output none
  if [[ -n ${SSH_SOURCE:-} ]]; then
    az network nsg rule create --resource-group "$RESOURCE_GROUP" --nsg-name "${VM}NSG" --name ssh-operator \
      --priority 910 --access Allow --protocol Tcp --destination-port-ranges 22 \
      --source-address-prefixes "$SSH_SOURCE" --output none
  fi

  az vm extension set --ids "$vm_id" --name AzureMonitorLinuxAgent --publisher Microsoft.Azure.Monitor \
    --enable-auto-upgrade true --output none \
    --settings "{\"authentication\": {\"managedIdentity\": {\"identifier-name\": \"mi_res_id\", \"identifier-value\": \"$identity_id\"}}}"
  az rest --method put --output none \
    --url "$vm_id/providers/Microsoft.Insights/dataCollectionRuleAssociations/$DCR?api-version=2022-06-01" \
    --body "{\"properties\": {\"dataCollectionRuleId\": \"$dcr_id\"}}"

  log "done: Key Vault $vault, workspace $WORKSPACE, VM $VM"
  log "the VM installs and starts the stack by itself (a few minutes): deploy.sh status"
  log "then: curl https://$domain/health"
}

cmd_status() {
  run_on_vm 'systemctl is-active kasparro.service; cd /opt/kasparro &&
docker compose ps --all --format "table {{.Service}}\t{{.Image}}\t{{.Status}}";
curl -s http://127.0.0.1:8000/health; echo;
journalctl -u kasparro.service -n 5 --no-pager'
}

cmd_reload() {
  if ! az vm show --resource-group "$RESOURCE_GROUP" --name "$VM" --output none 2>/dev/null; then
    log "no VM $VM yet: \`deploy.sh up\` creates it, and it reads the settings when it starts"
    return 0
  fi
  # A reload keeps what runs when migrate fails; only a unit that is down gets a fresh start.
  run_on_vm 'if systemctl is-active --quiet kasparro.service; then systemctl reload kasparro.service;
else systemctl restart kasparro.service; fi; systemctl is-active kasparro.service'
}

cmd_set_image() {
  local vault current image
  [[ $# -eq 1 ]] || die "usage: deploy.sh set-image TAG|REF"
  vault=$(vault_name)
  if [[ $1 == */* ]]; then
    image=$1
  else
    current=$(az keyvault secret show --vault-name "$vault" --name KASPARRO-IMAGE --query value -o tsv)
    image=${current%:*}:$1
  fi
  secret_set "$vault" KASPARRO-IMAGE "$image"
  log "KASPARRO_IMAGE=$image; reloading the stack (migrate first, then what changed)"
  cmd_reload
  cmd_status
}

cmd_images() {
  local vault id
  vault=$(vault_name)
  az keyvault secret list-versions --vault-name "$vault" --name KASPARRO-IMAGE \
    --query 'sort_by(@, &attributes.created)[].id' -o tsv | tac | while read -r id; do
    az keyvault secret show --id "$id" --query '[attributes.created, value]' -o tsv | tr '\n' ' '
    echo
  done
}

cmd_config() {
  local name value
  [[ $# -ge 1 && $# -le 2 ]] || die "usage: deploy.sh config NAME [VALUE]"
  name=$(secret_name "$1")
  if [[ $# -eq 2 ]]; then
    value=$2
  else
    read -rsp "$1: " value
    echo >&2
  fi
  secret_set "$(vault_name)" "$name" "$value"
  cmd_reload
}

cmd_unset() {
  local name id
  [[ $# -eq 1 ]] || die "usage: deploy.sh unset NAME"
  name=$(secret_name "$1")
  id=$(az keyvault secret show --vault-name "$(vault_name)" --name "$name" --query id -o tsv)
  az keyvault secret set-attributes --id "$id" --enabled false --output none
  cmd_reload
}

command=${1:-}
shift || true
case "$command" in
  up) cmd_up "$@" ;;
  status) cmd_status "$@" ;;
  reload) cmd_reload "$@" ;;
  set-image) cmd_set_image "$@" ;;
  images) cmd_images "$@" ;;
  config) cmd_config "$@" ;;
  unset) cmd_unset "$@" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 64
    ;;
esac

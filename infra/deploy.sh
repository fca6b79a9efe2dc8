#!/usr/bin/env bash
# Deploy one stage: the network stack (static egress IP), then the app stack, then print what the
# trader needs. Needs the AWS CLI v2 and credentials for the target account.
#   infra/deploy.sh prod            (EGRESS_MODE=nat-instance for the ~$8/month NAT instance;
#                                    EXISTING_EIP=eipalloc-… to reuse an already whitelisted IP;
#                                    RESERVED_CONCURRENCY=off when the account's Lambda quota cannot
#                                    hold the reservations: see the preflight below)
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=${1:-prod}
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-ap-south-1}}
PY=${PY:-.venv/bin/python}
NETWORK=indstocks-relay-$STAGE-network
APP=indstocks-relay-$STAGE
command -v aws >/dev/null || { echo "the AWS CLI v2 is required (aws)"; exit 2; }
ACCOUNT=$(aws sts get-caller-identity --query Account --output text)
BUCKET=${DEPLOY_BUCKET:-indstocks-relay-artifacts-$ACCOUNT-$REGION}

# The app template first (offline), then the account's Lambda concurrency quota against the
# reservations it asks for: a refusal stops here, before any stack changes, never half-way.
echo "==> app template for $APP"
AWS_DEFAULT_REGION=$REGION "$PY" -m infra.build --stage "$STAGE" --reserved-concurrency "${RESERVED_CONCURRENCY:-on}"
echo "==> Lambda concurrency quota"
"$PY" -m infra.preflight --template "build/$STAGE/sam.json" --stack "$APP" --stage "$STAGE" --region "$REGION"

echo "==> network stack $NETWORK ($REGION)"
aws cloudformation deploy --region "$REGION" --stack-name "$NETWORK" --template-file infra/network.yaml \
  --no-fail-on-empty-changeset --parameter-overrides "Stage=$STAGE" "EgressMode=${EGRESS_MODE:-nat-gateway}" \
  "ExistingEipAllocationId=${EXISTING_EIP:-}" "SecondaryEgressIp=${SECONDARY_EIP:-false}"

echo "==> app stack $APP"
aws s3api head-bucket --bucket "$BUCKET" 2>/dev/null || \
  aws s3 mb "s3://$BUCKET" --region "$REGION"
aws cloudformation package --region "$REGION" --template-file "build/$STAGE/sam.json" --s3-bucket "$BUCKET" \
  --output-template-file "build/$STAGE/packaged.yaml" >/dev/null
aws cloudformation deploy --region "$REGION" --stack-name "$APP" --template-file "build/$STAGE/packaged.yaml" \
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset

output() { aws cloudformation describe-stacks --region "$REGION" --stack-name "$1" \
  --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text; }
echo
echo "Webhook URL (TradingView):   $(output "$APP" WebhookUrl)"
echo "Signed webhook (any sender): $(output "$APP" SignedWebhookUrl)"
echo "Token page:                  $(output "$APP" TokenPageUrl)"
echo "Dashboard:                   $(output "$APP" DashboardUrl)"
EGRESS_IP=$(output "$NETWORK" EgressIp)
if ! [[ "$EGRESS_IP" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then  # a reused EIP: ask EC2 for its address
  EGRESS_IP=$(aws ec2 describe-addresses --region "$REGION" --allocation-ids "$(output "$NETWORK" EgressAllocationId)" \
    --query 'Addresses[0].PublicIp' --output text)
fi
echo "Static IP to whitelist at INDstocks (API access tokens page): $EGRESS_IP"

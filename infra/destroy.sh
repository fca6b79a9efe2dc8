#!/usr/bin/env bash
# Remove one stage. The Elastic IP, the DynamoDB tables and the log groups are RETAINED on purpose.
set -euo pipefail
STAGE=${1:-prod}
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-ap-south-1}}
cat <<WARN
Deleting indstocks-relay-$STAGE and its network stack.
- The Elastic IP is retained (it is whitelisted at INDstocks); release it yourself when you are sure.
- The tables and log groups are retained too.
- VPC Lambda network interfaces can take up to 45 minutes to release: the network stack's delete
  may wait that long. Do not delete the subnets or security group by hand meanwhile.
WARN
read -r -p "Type the stage name to continue: " answer
[ "$answer" = "$STAGE" ] || { echo "aborted"; exit 1; }
aws cloudformation delete-stack --region "$REGION" --stack-name "indstocks-relay-$STAGE"
aws cloudformation wait stack-delete-complete --region "$REGION" --stack-name "indstocks-relay-$STAGE"
aws cloudformation delete-stack --region "$REGION" --stack-name "indstocks-relay-$STAGE-network"
aws cloudformation wait stack-delete-complete --region "$REGION" --stack-name "indstocks-relay-$STAGE-network"
echo "done"

/**
 * AWS Control Tower's proactive controls (cfn-guard rules) that the synthesized templates
 * fail on purpose, each with its reason: the one place they are acknowledged. `npm run
 * cfn-guard` (cdk/guard/run.ts, in CI after synth) fails on any other failure, and on an
 * entry here that no longer fails anywhere (remove it then).
 */
export const acknowledged: Readonly<Record<string, string>> = {
  // API Gateway and Lambda
  api_gw_v2_authorization_type_configured_check:
    'The agent and mirror routes are public by design: they authenticate in the handler (a license key, or an agent token), as a route authorizer cannot (the token is checked against the table). Admin and publish routes use AWS_IAM.',
  lambda_function_public_access_prohibited_check:
    'Each API Gateway permission has a SourceArn (this API, this route), written as an Fn::Join the rule cannot read: it wants a literal string. Not public.',
  lambda_inside_vpc_check:
    'No function reaches a private network: DynamoDB, S3, KMS and SSM are reached over their public endpoints with IAM. A VPC would add NAT gateways per region and cold-start cost for no isolation gained.',
  // CloudWatch Logs
  cloudwatch_log_group_retention_period_check:
    'Retention is set on every log group, from the config (logRetentionDays), shorter than a year on purpose: access and WAF logs of a million agents cost by the gigabyte, and the audit trail lives in the table.',
  cloudwatch_log_group_encrypted_check:
    'CloudWatch Logs encrypts every group at rest (AWS-owned keys); the logs hold no license keys or tokens (redacted at the source), so a customer key adds cost and a key policy to keep, not secrecy.',
  // CloudFront
  cloudfront_default_root_object_configured_check: 'An API and a file CDN, not a website: "/" is no document, and the path guard refuses it.',
  cloudfront_custom_ssl_certificate_check:
    'The default configuration has no domain and answers on *.cloudfront.net; with signet.domainName set the distribution uses its ACM certificate (docs/cdk.md, "CloudFront").',
  cloudfront_sni_enabled_check: 'As for the certificate: SNI comes with the ACM certificate of signet.domainName; the default *.cloudfront.net name has none to serve.',
  cloudfront_security_policy_check:
    'With signet.domainName the minimum is TLSv1.2_2021; the default *.cloudfront.net certificate cannot be given a minimum (a CloudFront limit).',
  // S3
  s3_bucket_default_encryption_kms_check:
    'SSE-S3: targets and metadata are public content under signed URLs, verified by TUF; SSE-KMS would add a KMS call per CloudFront miss and a key policy for the CDN, for no secrecy.',
  s3_bucket_versioning_enabled_check: 'The log buckets: written once by CloudFront and S3, expired by lifecycle; versions would only keep what the lifecycle deletes.',
  s3_bucket_logging_enabled_check: 'The log buckets themselves: logging a log bucket to itself loops, and to another bucket only moves the question.',
  s3_event_notifications_enabled_check: 'Nothing reacts to object events: releases are committed through the API, which writes the metadata itself.',
  s3_bucket_object_lock_enabled_check:
    'Old targets must be deletable (retention of versions, a withdrawn set); immutability is what TUF hashes and content addressing give, and object lock cannot be turned off once on.',
};

interface CfnTemplateJson {
  readonly Resources?: Record<string, { readonly Type?: string; readonly Properties?: { readonly DistributionConfig?: { readonly OriginGroups?: { readonly Quantity?: number } } } }>;
}

/** Whether any distribution in the templates has an origin group (a second origin to fail over to). */
function failsOver(templates: readonly CfnTemplateJson[]): boolean {
  return templates.some((t) => Object.values(t.Resources ?? {}).some((r) => r.Type === 'AWS::CloudFront::Distribution' && (r.Properties?.DistributionConfig?.OriginGroups?.Quantity ?? 0) > 0));
}

/**
 * Rules failed on purpose in some configurations only: acknowledged where `applies` says so
 * of the synthesized templates (and stale there if they pass); everywhere else they must pass.
 */
export const acknowledgedWhen: Readonly<Record<string, { readonly reason: string; applies(templates: readonly CfnTemplateJson[]): boolean }>> = {
  cloudfront_origin_failover_enabled_check: {
    reason:
      'Single region: there is no second bucket to fail over to. With replicaRegions the bucket behaviours use an origin group (the first replica region\'s bucket on 5xx; docs/cdk.md, "Origin failover") and the rule passes.',
    applies: (templates) => !failsOver(templates),
  },
};

/**
 * One region's HTTP API under the API domain (docs/cdk.md, "API domain"): two API Gateway
 * custom domains (regional endpoint, TLS 1.2) mapped to the `$default` stage,
 *   - `<apiDomain>`, which every region answers: a Route 53 latency record per region,
 *     each tied to its region's health check, so the name resolves to the nearest healthy
 *     region. CloudFront's `/v1/*` origin is this name.
 *   - `<region>.<apiDomain>`, this region alone: what the health check probes, and in the
 *     primary region where signed admin and CI calls go (they cannot pass CloudFront, and
 *     the latency name may answer from a replica, which has no admin routes).
 * The execute-api endpoint is disabled by the API stack when this is used.
 */
import { Duration } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import type { ApiDomainConfig } from '../config.ts';
import { regionalApiDomainName } from '../config.ts';

/** What the health check asks for: the health function reads the region's table, so a region without its table is unhealthy too. */
export const HEALTH_CHECK_PATH = '/v1/health';

export interface RegionalApiDomainProps {
  readonly domain: ApiDomainConfig;
  readonly region: string;
  readonly api: apigwv2.IHttpApi;
  readonly stage: apigwv2.IStage;
}

export class RegionalApiDomain extends Construct {
  /** `<apiDomain>`, answered by every region. */
  readonly shared: apigwv2.DomainName;
  /** `<region>.<apiDomain>`. */
  readonly regional: apigwv2.DomainName;
  readonly healthCheck: route53.HealthCheck;
  /** `https://<region>.<apiDomain>`. */
  readonly regionalUrl: string;

  constructor(scope: Construct, id: string, props: RegionalApiDomainProps) {
    super(scope, id);
    const { domain, region } = props;
    const arn = domain.certificateArns[region];
    if (arn === undefined) throw new Error(`${this.node.path}: no certificate for ${region} in signet.apiDomain.certificateArns`);
    const certificate = acm.Certificate.fromCertificateArn(this, 'Certificate', arn);
    const regionalName = regionalApiDomainName(domain.domainName, region);
    const customDomain = (cid: string, domainName: string): apigwv2.DomainName => {
      const created = new apigwv2.DomainName(this, cid, {
        domainName,
        certificate,
        endpointType: apigwv2.EndpointType.REGIONAL,
        securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
      });
      new apigwv2.ApiMapping(this, `${cid}Mapping`, { api: props.api, domainName: created, stage: props.stage });
      return created;
    };
    this.shared = customDomain('Shared', domain.domainName);
    this.regional = customDomain('Regional', regionalName);
    this.regionalUrl = `https://${regionalName}`;

    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', { hostedZoneId: domain.hostedZoneId, zoneName: domain.hostedZoneName });
    new route53.ARecord(this, 'RegionalRecord', {
      zone,
      recordName: regionalName,
      target: route53.RecordTarget.fromAlias(new targets.ApiGatewayv2DomainProperties(this.regional.regionalDomainName, this.regional.regionalHostedZoneId)),
      comment: `Signet API in ${region} alone`,
    });
    // HTTPS with SNI: API Gateway picks the custom domain by SNI and Host, both the regional name.
    this.healthCheck = new route53.HealthCheck(this, 'HealthCheck', {
      type: route53.HealthCheckType.HTTPS,
      fqdn: regionalName,
      port: 443,
      resourcePath: HEALTH_CHECK_PATH,
      enableSNI: true,
      requestInterval: Duration.seconds(30),
      // Three failures in a row (about 90 s) take the region out of the latency answer.
      failureThreshold: 3,
    });
    new route53.ARecord(this, 'LatencyRecord', {
      zone,
      recordName: domain.domainName,
      target: route53.RecordTarget.fromAlias(new targets.ApiGatewayv2DomainProperties(this.shared.regionalDomainName, this.shared.regionalHostedZoneId)),
      region,
      setIdentifier: region,
      healthCheck: this.healthCheck,
      comment: `Signet API: latency record for ${region}, withdrawn while its health check fails`,
    });
  }
}

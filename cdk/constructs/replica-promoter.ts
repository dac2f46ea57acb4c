/**
 * A replica region's promoter (functions/replica-promoter): every minute, serves the newest
 * replica view whose every object has arrived in the region's signature bucket
 * (lib/releases/replication.ts). A schedule rather than S3 event notifications: objects
 * arrive in any order and the last to arrive may be any of them, so an event per object
 * would run it hundreds of times per release to the same effect; a minute is small beside
 * replication's own 15-minute bound, and no notification custom resource is needed.
 */
import { Duration } from 'aws-cdk-lib';
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { SignetFunction } from './signet-function.ts';

export const PROMOTER_PERIOD = Duration.minutes(1);

export interface ReplicaPromoterProps {
  readonly bucket: s3.IBucket;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

export class ReplicaPromoter extends Construct {
  readonly fn: SignetFunction;
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: ReplicaPromoterProps) {
    super(scope, id);
    this.fn = new SignetFunction(this, 'replicaPromoter', {
      entry: 'functions/replica-promoter/index.ts',
      description: 'Signet replicaPromoter',
      memorySize: 512,
      // Under the period, so one run ends before the next starts (the write is conditional anyway).
      timeout: Duration.seconds(50),
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    }).bindReplicaPromotion(props.bucket);
    this.schedule = new events.Rule(this, 'Schedule', {
      description: 'Signet: serves the newest complete replica view, every minute',
      schedule: events.Schedule.rate(PROMOTER_PERIOD),
      // The next run makes up for a missed one.
      targets: [new targets.LambdaFunction(this.fn.function, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });
  }
}

/** The CDK app entry (`cdk.json` "app"). Everything it builds is in signet.ts. */
import { createSignetApp } from './signet.ts';

createSignetApp();

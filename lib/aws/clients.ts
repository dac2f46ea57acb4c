/**
 * AWS clients, created once per container and shared by every request it serves.
 * Short timeouts and few retries: an agent retries on its own, and a request that
 * hangs costs more than one that fails fast with 503.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

let documentClient: DynamoDBDocumentClient | undefined;

export function dynamo(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(
    new DynamoDBClient({
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000 },
    }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
  return documentClient;
}

/**
 * AWS clients as the functions make them, once per container. Short timeouts and few
 * retries: an agent retries on its own, and a request that hangs costs more than one
 * that fails fast with 503.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export function dynamoDocumentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000 }, ...config }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
}

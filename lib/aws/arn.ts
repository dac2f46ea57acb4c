/** `{ region }` of an ARN (`arn:aws:kms:eu-west-1:...`), or `{}` for a bare id: a client option to spread. */
export function regionOfArn(arnOrId: string): { region?: string } {
  const region = arnOrId.startsWith('arn:') ? arnOrId.split(':')[3] : undefined;
  return region ? { region } : {};
}

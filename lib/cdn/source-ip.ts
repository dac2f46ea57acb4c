/**
 * The custom policy's `IpAddress.AWS:SourceIp` condition: one CIDR block.
 *
 * CloudFront's guide documents IPv4 CIDR only (and advises against enabling IPv6 on a
 * distribution that uses this condition, since an IPv6 viewer then never matches). We
 * also accept an IPv6 block, so an IPv6-only local client can be restricted; an IPv4
 * block never matches an IPv6 viewer and vice versa, as at the edge.
 *
 * A bare address without `/prefix` is refused: CloudFront's guide asks for `a.b.c.d/32`,
 * and every AWS signer appends `/32` itself, so a bare address only comes from a
 * hand-written policy whose intent we should not guess.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (isIPv4(address)) return prefix <= 32 ? { address, prefix, family: 'ipv4' } : undefined;
  if (isIPv6(address) && !address.includes('%')) {
    return prefix <= 128 ? { address, prefix, family: 'ipv6' } : undefined;
  }
  return undefined;
}

/**
 * Node's BlockList does the masking, and checks an IPv4-mapped IPv6 viewer
 * (`::ffff:192.0.2.1`, which is how a dual-stack Node server reports IPv4 peers)
 * against IPv4 blocks.
 */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) && !ip.includes('%') ? 'ipv6' : undefined;
  if (family === undefined) return false;
  try {
    const list = new BlockList();
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
    return list.check(ip, family);
  } catch {
    return false;
  }
}

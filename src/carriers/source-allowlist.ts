import { BlockList, isIP } from 'node:net';

/**
 * Which source addresses may open calls (SIP, AudioSocket): a list of addresses and CIDR ranges,
 * IPv4 and IPv6. Empty = everyone (the config warns). IPv4-mapped IPv6 sources (::ffff:a.b.c.d,
 * what a dual-stack socket reports) are checked as IPv4.
 */
export class SourceAllowlist {
  readonly #list = new BlockList();
  readonly open: boolean;

  constructor(entries: readonly string[]) {
    this.open = entries.length === 0;
    for (const entry of entries) {
      const [address, prefix] = entry.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) this.#list.addAddress(address, family);
      else this.#list.addSubnet(address, Number(prefix), family);
    }
  }

  allows(address: string | undefined): boolean {
    if (this.open) return true;
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return this.#list.check(mapped[1], 'ipv4');
    return this.#list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
}

/** Problems with an allowlist setting, for the config's error list. */
export function checkAllowlist(name: string, entries: readonly string[]): string[] {
  const problems: string[] = [];
  for (const entry of entries) {
    const [address, prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    const bits = family === 6 ? 128 : 32;
    const badPrefix =
      prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits || rest.length > 0);
    if (family === 0 || badPrefix)
      problems.push(`${name}: not an address or CIDR range (got ${JSON.stringify(entry)})`);
  }
  return problems;
}

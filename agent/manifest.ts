/**
 * Step 3 of docs/agent-protocol.md, manifest: `POST /v1/manifest` says which version to
 * install, where its metadata and targets are, and the download grant for its targets.
 */
import { AgentError } from './errors.ts';
import type { Session } from './session.ts';
import type { AgentState } from './state.ts';
import type { Manifest } from '#lib/delivery/manifest.ts';
import { compareVersions } from '#lib/releases/versions.ts';

type Installed = NonNullable<AgentState['installed']>;

/** Asks for the manifest; with the installed version once something is installed (the service never offers a lower one then). */
export function requestManifest(session: Session): Promise<Manifest> {
  return session.call<Manifest>('/v1/manifest', {
    product: session.state.product,
    ...(session.state.channel && { channel: session.state.channel }),
    ...(session.state.installed && { installedVersion: session.state.installed.version }),
  });
}

/** The same version and set manifest as installed: nothing to do. */
export function offersInstalled(manifest: Manifest, installed: Installed): boolean {
  return manifest.version === installed.version && manifest.setManifest === installed.setManifest;
}

/** A version below the installed one is refused: the service does not offer one, a mirror or an attacker might. */
export function refuseRollback(manifest: Manifest, installed: Installed | undefined): void {
  if (installed && compareVersions(manifest.version, installed.version) < 0) {
    throw new AgentError('VERSION_ROLLBACK', `the server offered ${manifest.version}, below the installed ${installed.version}: refused`);
  }
}

/**
 * The manifest of an update and its grant, which is appended to every target URL. A
 * target answered 403 means the grant expired: `renew` asks for the manifest again and
 * keeps its new grant; `query` renews ahead of `expiresAt` rather than wait for the 403.
 */
export class Offer {
  constructor(
    private readonly session: Session,
    public manifest: Manifest,
  ) {}

  get targetsUrl(): string {
    return this.manifest.targetsUrl;
  }

  async query(): Promise<string> {
    // Renew a grant about to expire before using it.
    if (Date.parse(this.manifest.download.expiresAt) - Date.now() < 2_000) await this.renew();
    return this.manifest.download.query;
  }

  async renew(): Promise<void> {
    this.manifest = { ...this.manifest, download: (await requestManifest(this.session)).download };
  }
}

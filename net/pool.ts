// One connection per remote address, opened on first use and reopened after it
// closes. Used by clients and by chunk servers talking to each other.
import { connect, type Peer, type PeerOptions } from "./peer";
import type { Role } from "./messages";

export class PeerPool {
  private readonly connecting = new Map<string, Promise<Peer>>();
  private readonly open = new Map<string, Peer>();

  constructor(private readonly role: Role, private readonly name: string, private readonly opts: PeerOptions) {}

  /** The open connection to `addr`, if there is one right now. */
  ready(addr: string): Peer | undefined {
    const p = this.open.get(addr);
    return p && !p.closed ? p : undefined;
  }

  get(addr: string): Promise<Peer> {
    const ready = this.ready(addr);
    if (ready) return Promise.resolve(ready);
    const pending = this.connecting.get(addr);
    if (pending) return pending;
    const p = connect(addr, this.role, this.name, {
      ...this.opts,
      onClose: (peer, why) => {
        if (this.open.get(addr) === peer) this.open.delete(addr);
        this.opts.onClose?.(peer, why);
      },
    });
    this.connecting.set(addr, p);
    p.then(
      (peer) => {
        this.connecting.delete(addr);
        if (!peer.closed) this.open.set(addr, peer);
      },
      () => this.connecting.delete(addr),
    );
    return p;
  }

  closeAll(): void {
    for (const peer of this.open.values()) peer.close("shutting down");
    this.open.clear();
    for (const p of this.connecting.values()) p.then((peer) => peer.close("shutting down"), () => {});
    this.connecting.clear();
  }
}

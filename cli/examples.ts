// What `gfs CMD --help` shows after the options: a few real uses, and what
// the exit status means.
export const examples: Record<string, string[]> = {
  master: [
    "gfs master --data /var/lib/gfs/master --listen 0.0.0.0:7070 --secret-file /etc/gfs/secret",
    "gfs master --data ./m --listen 127.0.0.1:7070 --chunk-size 16MiB --replication 2   # a small test cluster",
    "gfs master --data /var/lib/gfs/master --etcd http://etcd1:2379,http://etcd2:2379,http://etcd3:2379 --advertise master1:7070   # HA: run on 2+ machines",
  ],
  chunkserver: [
    "gfs chunkserver --data /srv/gfs --master master1:7070 --rack r12 --secret-file /etc/gfs/secret",
    "gfs chunkserver --data ./cs1 --master 127.0.0.1:7070 --listen 127.0.0.1:0   # any free port",
    "gfs chunkserver --data /srv/gfs --master master1:7070,master2:7070,master3:7070   # HA: every master",
  ],
  dev: ["gfs dev", "gfs dev --chunkservers 5 --chunk-size 1MiB --dir ./cluster   # kept across restarts"],
  put: ["gfs put big.iso /isos/big.iso -p", "tar c src | gfs put - /backups/src.tar --replication 2", "gfs put new.conf /etc/app.conf --force"],
  cat: ["gfs cat /isos/big.iso > big.iso", "gfs cat /logs/events --records | grep ERROR", "gfs cat /data/blob --offset 1MiB --length 4KiB | xxd | head"],
  append: ["echo 'job 17 done' | gfs append /logs/jobs", "tail -f app.log | gfs append /logs/app --lines   # many producers at once, each line a record"],
  ls: ["gfs ls /logs", "gfs ls -lh /isos", "gfs ls -R --json / | jq '.[].path'"],
  stat: ["gfs stat /isos/big.iso", "gfs stat /isos/big.iso --json | jq '.chunks[0].replicas'"],
  mkdir: ["gfs mkdir -p /logs/2026/11", "gfs mkdir /scratch --no-trash   # removals below it erase at once"],
  mv: ["gfs mv /logs/app /logs/app.old"],
  rm: ["gfs rm /tmp/a /tmp/b", "gfs rm -r /old-logs   # into /.trash; gfs undelete brings it back"],
  undelete: ["gfs undelete /old-logs   # see what can still be brought back with: gfs ls -a /.trash"],
  snapshot: ["gfs snapshot /logs /backup/logs-monday"],
  setrep: ["gfs setrep 2 /scratch   # files created below it from now on, and those there now", "gfs setrep 5 /isos/popular.iso"],
  fsck: ["gfs fsck", "gfs fsck /logs --json | jq .underReplicated"],
  rebalance: ["gfs rebalance --dry-run", "gfs rebalance --threshold 5 --wait"],
  drain: ["gfs drain cs12:7080 --wait   # then stop it", "gfs drain cs12:7080 --cancel"],
  cluster: ["gfs cluster", "gfs cluster --json | jq '.chunkservers[] | select(.state != \"up\")'"],
  events: ["gfs events", "gfs events --follow | grep -i lost", "gfs events --json | jq -r .text"],
  "rpc-log": ["gfs rpc-log /var/lib/gfs/master | grep -v ' ok '   # requests that failed", "gfs rpc-log -f /srv/gfs | grep applyWrite"],
  completion: ["gfs completion bash > /etc/bash_completion.d/gfs", "gfs completion zsh > ~/.zfunc/_gfs"],
  version: ["gfs version"],
};

/** The exit statuses of `name`. */
export function exitStatuses(name: string): string {
  const base = "0 success; 1 a failure the one-line message explains; 2 bad usage (an unknown flag, a missing argument)";
  if (name === "cat") return `${base}; 141 the reader of the output went away (as with head)`;
  if (name === "fsck") return "0 healthy; 1 something is under-replicated, missing or damaged (or the master cannot be reached); 2 bad usage";
  if (name === "master" || name === "chunkserver" || name === "dev") return "0 stopped by SIGTERM or Ctrl-C; 1 could not start or go on (the message says why); 2 bad usage";
  return base;
}

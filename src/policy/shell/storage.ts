/**
 * Disks, volumes and pools: tools whose everyday verbs erase data (`sgdisk --zap-all`,
 * `lvremove -f`, `zfs destroy -r`). What only lists or prints reads; the rest changes the
 * machine (privileged) or destroys (destructive).
 */
import { D, P, R, type Rule } from './classes.js'
import { hasOption } from './options.js'

const verbs = (destroy: string, read: string, otherwise = P): Rule => (args) => {
  const verb = args.find((w) => !w.startsWith('-'))
  if (verb !== undefined && destroy.split(' ').includes(verb)) return D
  return verb === undefined || read.split(' ').includes(verb) ? R : otherwise
}

export const STORAGE: Record<string, Rule> = {
  // sgdisk/gdisk: printing and verifying read; anything else rewrites the partition table.
  sgdisk: (a) => a.every((w) => /^(-[piv]+|--(print|info|verify)(=.*)?|--?[0-9]+|\/dev\/\S+)$/.test(w)) ? R : D,
  gdisk: D,
  blkdiscard: D,
  badblocks: (a) => hasOption(a, 0, ['w', 'n']) ? D : R,
  mke2fs: D,
  lvremove: D,
  vgremove: D,
  pvremove: D,
  lvreduce: D,
  lvcreate: P,
  lvextend: P,
  lvresize: P,
  vgcreate: P,
  pvcreate: D,
  lvs: R,
  vgs: R,
  pvs: R,
  lvdisplay: R,
  vgdisplay: R,
  pvdisplay: R,
  zfs: verbs('destroy rollback', 'list get holds diff'),
  zpool: verbs('destroy labelclear', 'list status get iostat history'),
  mdadm: (a) => hasOption(a, 0, ['zero-superblock', 'stop', 'S', 'remove', 'r', 'fail', 'f', 'create', 'C']) ? D : hasOption(a, 0, ['detail', 'D', 'examine', 'E', 'query', 'Q']) ? R : P,
  dmsetup: verbs('remove remove_all wipe_table clear', 'ls info status table deps version targets'),
  btrfs: (a) => a.some((w) => w === 'delete') ? D : a[0] === 'filesystem' && ['show', 'df', 'usage'].includes(a[1]) ? R : P,
  nvme: verbs('format sanitize delete-ns detach-ns', 'list id-ctrl id-ns smart-log error-log list-subsys'),
  hdparm: (a) => a.some((w) => /^--(security-erase|security-erase-enhanced|trim-sector-ranges|write-sector|make-bad-sector|fwdownload)/.test(w)) ? D : P
}

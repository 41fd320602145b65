/**
 * The errno values the DMA API returns (include/uapi/asm-generic/errno-base.h,
 * errno.h). Functions return them negated, as the kernel does.
 */
export const EIO = 5;
export const ENXIO = 6;
export const ENOMEM = 12;
export const EBUSY = 16;
export const ENODEV = 19;
export const EINVAL = 22;
export const EOPNOTSUPP = 95;
export const EREMOTEIO = 121;

const NAMES: Record<number, string> = {
  [EIO]: 'EIO',
  [ENXIO]: 'ENXIO',
  [ENOMEM]: 'ENOMEM',
  [EBUSY]: 'EBUSY',
  [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL',
  [EOPNOTSUPP]: 'EOPNOTSUPP',
  [EREMOTEIO]: 'EREMOTEIO',
};

/** `-ENXIO` style spelling of a return value; `0` for success. */
export function errnoName(ret: number): string {
  if (ret >= 0) return String(ret);
  const n = NAMES[-ret];
  return n === undefined ? String(ret) : `-${n}`;
}

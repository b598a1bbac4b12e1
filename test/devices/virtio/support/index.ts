/**
 * Test support for virtio devices: queues laid out in guest memory (`virtqueue.ts`), the driver's
 * side of the MMIO registers (`mmio-driver.ts`), and reproducible fast-check parameters
 * (`fast-check.ts`).
 */
export * from './virtqueue.js';
export * from './mmio-driver.js';
export * from './fast-check.js';

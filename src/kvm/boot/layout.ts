/**
 * Where things go in the guest's physical address space, as Firecracker lays out an x86_64
 * microVM (`arch/x86_64/layout.rs`, `arch/x86_64/{gdt,regs}.rs`), so that a reader of either
 * finds the same addresses:
 *
 * | address | what |
 * |---|---|
 * | 0x500 | GDT (4 entries), then the IDT (one null entry) at 0x520 |
 * | 0x7000 | the zero page (`struct boot_params`) |
 * | 0x8ff0 | the boot stack pointer |
 * | 0x9000, 0xa000, 0xb000–0xefff | PML4, PDPT, 4 PDs: 4 GiB identity-mapped in 2 MiB pages |
 * | 0x20000 | the kernel command line (2 KiB at most) |
 * | 0x9fc00 … 0xe0000 | reserved in the e820 map: the ACPI tables |
 * | 0xe0000 | the RSDP, where the kernel also looks for it without being told |
 * | 0x100000 | the kernel (bzImage's protected-mode part) |
 * | top of RAM | the initramfs |
 * | 0xc0000000 | virtio-mmio windows, 4 KiB each (Firecracker's `MMIO32_MEM_START`) |
 */
export const GDT_ADDRESS = 0x500;
export const IDT_ADDRESS = 0x520;
export const ZERO_PAGE_ADDRESS = 0x7000;
export const BOOT_STACK_POINTER = 0x8ff0;
export const PML4_ADDRESS = 0x9000;
export const PDPT_ADDRESS = 0xa000;
export const PD_ADDRESS = 0xb000;
export const CMDLINE_ADDRESS = 0x20000;
export const CMDLINE_MAX_SIZE = 2048;
/** Firecracker's `SYSTEM_MEM_START` (the EBDA's usual start) … `RSDP_ADDR`: the ACPI tables. */
export const ACPI_TABLES_START = 0x9fc00;
export const RSDP_ADDRESS = 0xe0000;
export const HIMEM_START = 0x100000;
/** Intel VMX's real-mode TSS: three pages just below the BIOS, outside guest memory. */
export const KVM_TSS_ADDRESS = 0xfffbd000;
export const IOAPIC_ADDRESS = 0xfec00000;
export const APIC_ADDRESS = 0xfee00000;
export const MMIO_START = 0xc000_0000;
export const MMIO_WINDOW = 0x1000;
/** The first GSI a virtio device gets (Firecracker's `GSI_LEGACY_START`: 0–4 are the timer, keyboard, cascade, COM2 and COM1). */
export const FIRST_DEVICE_GSI = 5;
/** The last GSI of the IOAPIC's 24 pins. */
export const LAST_DEVICE_GSI = 23;
/** COM1's port and interrupt. */
export const COM1_PORT = 0x3f8;
export const COM1_GSI = 4;
/** The most guest memory this layout has room for: RAM must end below the MMIO windows. */
export const MAX_MEMORY_BYTES = MMIO_START;

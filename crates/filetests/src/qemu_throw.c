/* Kiln's throw path for aarch64 code run by the qemu harness (qemu.rs):
 * `__cranelift_throw(entry_fp, exit_fp, exit_pc, tag, payload1, payload2)`,
 * the protocol of Cranelift's exception runtests. The harness is a
 * statically linked aarch64 C program, so the walk that the JIT does in
 * Rust (crates/module/src/throw.rs, `find_handler`) is done here, step for
 * step, over tables that qemu.rs writes from each function's
 * `CompiledCode`: its unwind rows (`kiln_codegen::unwind::rows`) and its
 * `exception_sites`. Nothing here depends on qemu: it is plain AAPCS64
 * code and runs the same on an aarch64 machine.
 *
 * Included after the harness prelude and the generated tables:
 * `fn_start[]`, `fn_len[]` (every function), `kiln_fn_tables[]`,
 * `kiln_rows[]`, `kiln_sites[]`, `kiln_handlers[]`, `KILN_NFUNCS`, the
 * `kiln_cur_call` index the harness sets before each call and
 * `KILN_NO_HANDLER` (a `siglongjmp` value the harness does not report as a
 * trap). */

/* Lands in a handler: sp and x29 of the frame that made the call, the
 * payloads in x0 and x1, every other register clobbered (the handler's
 * code assumes nothing else). x16 is the intra-procedure-call scratch
 * register, free at this point. */
__asm__(
    ".text\n"
    ".balign 4\n"
    "kiln_land:\n"
    "  mov sp, x1\n"
    "  mov x29, x2\n"
    "  mov x16, x0\n"
    "  mov x0, x3\n"
    "  mov x1, x4\n"
    "  br x16\n");
extern void kiln_land(uintptr_t pc, uintptr_t sp, uintptr_t fp, uint64_t p1,
                      uint64_t p2) __attribute__((noreturn));

/* A saved return address without its pointer-authentication code
 * (`sign_return_address`): `xpaclri` strips x30, and is a NOP on cores
 * without pointer authentication. */
static uintptr_t kiln_strip(uintptr_t ra) {
  register uintptr_t x30 __asm__("x30") = ra;
  __asm__("hint #7" : "+r"(x30));
  return x30;
}

static uintptr_t kiln_word(uintptr_t addr) { return *(const uintptr_t *)addr; }

/* The function whose code holds `pc` and that has unwind rows, or -1. */
static int kiln_lookup(uintptr_t pc) {
  for (int i = 0; i < KILN_NFUNCS; i++) {
    uintptr_t a = (uintptr_t)fn_start[i];
    if (pc >= a && pc < a + fn_len[i] && kiln_fn_tables[i].nrows > 0) return i;
  }
  return -1;
}

/* No handler before the entry frame: the JIT aborts the process with the
 * reason; the harness reports it for the current call and goes on. */
static void kiln_no_handler(const char *why, uint32_t tag, uintptr_t pc) {
  printf("%d nohandler %u %s %lx\n", kiln_cur_call, tag, why, (unsigned long)pc);
  fflush(stdout);
  siglongjmp(jb, KILN_NO_HANDLER);
}

void __cranelift_throw(uintptr_t entry_fp, uintptr_t exit_fp, uintptr_t exit_pc,
                       uint32_t tag, uint64_t payload1, uint64_t payload2) {
  uintptr_t pc = exit_pc, fp = exit_fp;
  int first = 1;
  for (;;) {
    int f = kiln_lookup(pc);
    if (f >= 0) {
      const struct kiln_fn *t = &kiln_fn_tables[f];
      uintptr_t start = (uintptr_t)fn_start[f];
      uint32_t off = (uint32_t)(pc - start);
      for (uint32_t s = t->first_site; s < t->first_site + t->nsites; s++) {
        const struct kiln_site *site = &kiln_sites[s];
        if (site->ret_addr != off) continue;
        for (uint32_t h = site->first_handler; h < site->first_handler + site->nhandlers; h++) {
          const struct kiln_handler *hd = &kiln_handlers[h];
          if (hd->tag < 0 || (uint32_t)hd->tag == tag)
            kiln_land(start + hd->handler, fp - site->fp_to_sp, fp, payload1, payload2);
        }
      }
      if (fp == entry_fp) kiln_no_handler("ReachedEntry", tag, pc);
      /* The row of the call instruction (just before the return address). */
      uint32_t at = off > 0 ? off - 1 : 0;
      const struct kiln_row *row = 0;
      for (uint32_t r = t->first_row; r < t->first_row + t->nrows; r++)
        if (kiln_rows[r].start <= at && at < kiln_rows[r].end) row = &kiln_rows[r];
      if (!row) kiln_no_handler("UnknownFrame", tag, pc);
      if (!row->fp_based) kiln_no_handler("NotFpBased", tag, pc);
      uintptr_t cfa = fp + (intptr_t)row->cfa_offset;
      pc = kiln_strip(kiln_word(cfa - row->ra_below));
      fp = kiln_word(cfa - row->fp_below);
    } else if (first) {
      if (fp == entry_fp) kiln_no_handler("ReachedEntry", tag, pc);
      /* The exit frame: the frame-record convention (caller's x29 at x29,
       * the return address at x29 + 8). */
      pc = kiln_strip(kiln_word(fp + 8));
      fp = kiln_word(fp);
    } else {
      kiln_no_handler("UnknownFrame", tag, pc);
    }
    first = 0;
  }
}

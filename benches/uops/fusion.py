#!/usr/bin/env python3
"""Micro-fusion and LEA probes for the x86-64 host (BENCHMARKS.md, "Indexed
memory operands and VEX"). This VM has no usable PMU, so each probe is timed:
a loop whose iteration holds 12 instances of the instruction under test
plus 24 one-uop `nop`s and the loop branch, so the front end (issue width)
is the limit. An instruction that stays one fused uop costs about as much
as its base-only twin; one that is un-laminated into two costs about as
much as 24 extra uops more per iteration. The `lat_*` probes time a
dependent chain of 20 instances (latency).

Usage: python3 benches/uops/fusion.py   (needs gcc; x86-64 Linux)
"""
import os, subprocess, sys, tempfile

PROBES = {
    # scalar float op with a folded load: VEX three-operand vs legacy SSE
    'vmulsd x,y,[b+i+d]': lambda k: [f"vmulsd xmm{k}, xmm15, [rsi+rdx+{8*k}]"],
    'vmulsd x,x,[b+i+d]': lambda k: [f"vmulsd xmm{k}, xmm{k}, [rsi+rdx+{8*k}]"],
    'vmulsd x,y,[b+d]': lambda k: [f"vmulsd xmm{k}, xmm15, [rsi+{8*k}]"],
    'mulsd x,[b+i+d]': lambda k: [f"mulsd xmm{k}, [rsi+rdx+{8*k}]"],
    'mulsd x,[b+d]': lambda k: [f"mulsd xmm{k}, [rsi+{8*k}]"],
    # integer forms
    'add r,[b+i+d]': lambda k: [f"add r{8+k%4}, [rsi+rdx+{8*k}]"],
    'cmp r,[b+i+d]': lambda k: [f"cmp r{8+k%4}, [rsi+rdx+{8*k}]"],
    'cmp r,[b+d]': lambda k: [f"cmp r{8+k%4}, [rsi+{8*k}]"],
    'cmp [b+i+d],imm': lambda k: [f"cmp dword ptr [rsi+rdx+{8*k}], 7"],
    'cmp [b+d],imm': lambda k: [f"cmp dword ptr [rsi+{8*k}], 7"],
    # a scaled copy of a live value
    'mov r,x; shl r,3': lambda k: [f"mov r{8+k%4}, rcx", f"shl r{8+k%4}d, 3"],
    'lea r,[x*8]': lambda k: [f"lea r{8+k%4}d, [rcx*8]"],
    'lea r,[x*8]; nop': lambda k: [f"lea r{8+k%4}d, [rcx*8]", "nop"],
}
LAT = {
    'lat shl r,3': 'shl eax, 3',
    'lat lea r,[r*8]': 'lea eax, [rax*8]',
    'lat lea r,[r+r*8]': 'lea eax, [rax+rax*8]',
    'lat lea r,[r+1]': 'lea eax, [rax+1]',
}

def main():
    asm = ['.intel_syntax noprefix', '.text']
    names = []
    for i, (n, f) in enumerate(PROBES.items()):
        asm += [f'.globl p{i}', f'p{i}:', ' xor edx, edx', ' mov ecx, 5',
                ' xor r8d, r8d', ' xor r9d, r9d', ' xor r10d, r10d', ' xor r11d, r11d',
                '.p2align 6', '1:']
        for k in range(12):
            asm += [' ' + x for x in f(k)] + [' nop', ' nop']
        asm += [' dec rdi', ' jnz 1b', ' ret']
        names.append((f'p{i}', n))
    for i, (n, ins) in enumerate(LAT.items()):
        asm += [f'.globl l{i}', f'l{i}:', ' mov eax, 1', '.p2align 6', '1:']
        asm += [' ' + ins] * 20 + [' dec rdi', ' jnz 1b', ' ret']
        names.append((f'l{i}', n))
    c = ['#include <stdio.h>', '#include <time.h>',
         'static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}']
    c += [f'void {s}(long, double*);' for s, _ in names]
    c += ['int main(void){ static double mem[64] __attribute__((aligned(64)));',
          ' for(int i=0;i<64;i++) mem[i]=1.0; long n=20000000;',
          ' struct {const char*n; void(*f)(long,double*); int lat;} fs[]={' +
          ','.join(f'{{"{n}",{s},{int(s[0]=="l")}}}' for s, n in names) + '};',
          ' for(unsigned k=0;k<sizeof fs/sizeof*fs;k++){ double best=1e30;',
          '  for(int r=0;r<7;r++){double t=now(); fs[k].f(n,mem); t=now()-t; if(t<best)best=t;}',
          '  if(fs[k].lat) printf("%-22s %.3f ns per instruction\\n",fs[k].n,best/n/20);',
          '  else printf("%-22s %.3f ns per iteration\\n",fs[k].n,best/n); } return 0; }']
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, 'p.s'), 'w').write('\n'.join(asm) + '\n')
        open(os.path.join(d, 'p.c'), 'w').write('\n'.join(c) + '\n')
        exe = os.path.join(d, 'p')
        subprocess.run(['gcc', '-O1', '-o', exe, os.path.join(d, 'p.c'), os.path.join(d, 'p.s'),
                        '-Wl,-z,noexecstack'], check=True)
        sys.stdout.flush()
        subprocess.run([exe], check=True)

if __name__ == '__main__':
    main()

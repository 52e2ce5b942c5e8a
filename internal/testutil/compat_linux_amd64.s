#include "textflag.h"

// func int80(nr, a1, a2, a3, a4, a5 uintptr) uintptr
//
// One 32-bit (ia32) system call through int $0x80 from this 64-bit process:
// number in eax, arguments in ebx, ecx, edx, esi, edi. The kernel takes it
// as a compat syscall (TS_COMPAT), exactly as from a 32-bit program.
TEXT ·int80(SB), NOSPLIT, $0-56
	MOVQ nr+0(FP), AX
	MOVQ a1+8(FP), BX
	MOVQ a2+16(FP), CX
	MOVQ a3+24(FP), DX
	MOVQ a4+32(FP), SI
	MOVQ a5+40(FP), DI
	INT  $0x80
	MOVQ AX, ret+48(FP)
	RET

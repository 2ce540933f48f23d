//go:build amd64 && !purego

#include "textflag.h"

// Eight Salsa20/20 blocks at once. State word i of all eight blocks lives
// in one YMM register, lane j holding block j, so every quarter-round step
// is one vector instruction for all eight blocks. Sixteen state words and
// the temporaries do not fit in sixteen registers: the working state sits
// on the stack at X (word i at 32*i) and two quarter-rounds at a time are
// loaded into Y0-Y7, with Y12-Y15 as temporaries. The input state, added at
// the end, sits at IN.

#define X 0
#define IN 512

// ROTA and ROTB do one quarter-round step, b ^= (a+d) <<< l (r = 32-l),
// for two independent quarter-rounds, each with its own temporaries so
// the CPU can overlap them.
#define ROTA(a, d, b, l, r) \
	VPADDD a, d, Y12 \
	VPSLLD $l, Y12, Y13 \
	VPSRLD $r, Y12, Y12 \
	VPXOR Y13, b, b \
	VPXOR Y12, b, b

#define ROTB(a, d, b, l, r) \
	VPADDD a, d, Y14 \
	VPSLLD $l, Y14, Y15 \
	VPSRLD $r, Y14, Y14 \
	VPXOR Y15, b, b \
	VPXOR Y14, b, b

// QR2 runs the quarter-rounds (a1,b1,c1,d1) and (a2,b2,c2,d2), all
// registers, interleaved.
#define QR2(a1, b1, c1, d1, a2, b2, c2, d2) \
	ROTA(a1, d1, b1, 7, 25) \
	ROTB(a2, d2, b2, 7, 25) \
	ROTA(b1, a1, c1, 9, 23) \
	ROTB(b2, a2, c2, 9, 23) \
	ROTA(c1, b1, d1, 13, 19) \
	ROTB(c2, b2, d2, 13, 19) \
	ROTA(d1, c1, a1, 18, 14) \
	ROTB(d2, c2, a2, 18, 14)

// LOAD4 and STORE4 move four state words (stack offsets) to or from
// registers.
#define LOAD4(w0, r0, w1, r1, w2, r2, w3, r3) \
	VMOVDQU w0(SP), r0 \
	VMOVDQU w1(SP), r1 \
	VMOVDQU w2(SP), r2 \
	VMOVDQU w3(SP), r3

#define STORE4(r0, w0, r1, w1, r2, w2, r3, w3) \
	VMOVDQU r0, w0(SP) \
	VMOVDQU r1, w1(SP) \
	VMOVDQU r2, w2(SP) \
	VMOVDQU r3, w3(SP)

// Word i of the working state at offset 32*i.
#define W0 0
#define W1 32
#define W2 64
#define W3 96
#define W4 128
#define W5 160
#define W6 192
#define W7 224
#define W8 256
#define W9 288
#define W10 320
#define W11 352
#define W12 384
#define W13 416
#define W14 448
#define W15 480

// FINAL loads eight consecutive state words from word w on, adds the input
// state, and transposes them so that Y8..Y15 hold those words of blocks
// 0, 4, 1, 5, 2, 6, 3, 7; then XORs each with the input at its block (plus
// the offset o of those words in a block) into the output.
#define FINAL(w, o) \
	VMOVDQU (X+32*w+0)(SP), Y0 \
	VMOVDQU (X+32*w+32)(SP), Y1 \
	VMOVDQU (X+32*w+64)(SP), Y2 \
	VMOVDQU (X+32*w+96)(SP), Y3 \
	VMOVDQU (X+32*w+128)(SP), Y4 \
	VMOVDQU (X+32*w+160)(SP), Y5 \
	VMOVDQU (X+32*w+192)(SP), Y6 \
	VMOVDQU (X+32*w+224)(SP), Y7 \
	VPADDD (IN+32*w+0)(SP), Y0, Y0 \
	VPADDD (IN+32*w+32)(SP), Y1, Y1 \
	VPADDD (IN+32*w+64)(SP), Y2, Y2 \
	VPADDD (IN+32*w+96)(SP), Y3, Y3 \
	VPADDD (IN+32*w+128)(SP), Y4, Y4 \
	VPADDD (IN+32*w+160)(SP), Y5, Y5 \
	VPADDD (IN+32*w+192)(SP), Y6, Y6 \
	VPADDD (IN+32*w+224)(SP), Y7, Y7 \
	VPUNPCKLDQ Y1, Y0, Y8 \
	VPUNPCKHDQ Y1, Y0, Y9 \
	VPUNPCKLDQ Y3, Y2, Y10 \
	VPUNPCKHDQ Y3, Y2, Y11 \
	VPUNPCKLDQ Y5, Y4, Y12 \
	VPUNPCKHDQ Y5, Y4, Y13 \
	VPUNPCKLDQ Y7, Y6, Y14 \
	VPUNPCKHDQ Y7, Y6, Y15 \
	VPUNPCKLQDQ Y10, Y8, Y0 \
	VPUNPCKHQDQ Y10, Y8, Y1 \
	VPUNPCKLQDQ Y11, Y9, Y2 \
	VPUNPCKHQDQ Y11, Y9, Y3 \
	VPUNPCKLQDQ Y14, Y12, Y4 \
	VPUNPCKHQDQ Y14, Y12, Y5 \
	VPUNPCKLQDQ Y15, Y13, Y6 \
	VPUNPCKHQDQ Y15, Y13, Y7 \
	VPERM2I128 $0x20, Y4, Y0, Y8 \
	VPERM2I128 $0x31, Y4, Y0, Y9 \
	VPERM2I128 $0x20, Y5, Y1, Y10 \
	VPERM2I128 $0x31, Y5, Y1, Y11 \
	VPERM2I128 $0x20, Y6, Y2, Y12 \
	VPERM2I128 $0x31, Y6, Y2, Y13 \
	VPERM2I128 $0x20, Y7, Y3, Y14 \
	VPERM2I128 $0x31, Y7, Y3, Y15 \
	VPXOR (0*64+o)(SI), Y8, Y8 \
	VPXOR (4*64+o)(SI), Y9, Y9 \
	VPXOR (1*64+o)(SI), Y10, Y10 \
	VPXOR (5*64+o)(SI), Y11, Y11 \
	VPXOR (2*64+o)(SI), Y12, Y12 \
	VPXOR (6*64+o)(SI), Y13, Y13 \
	VPXOR (3*64+o)(SI), Y14, Y14 \
	VPXOR (7*64+o)(SI), Y15, Y15 \
	VMOVDQU Y8, (0*64+o)(DI) \
	VMOVDQU Y9, (4*64+o)(DI) \
	VMOVDQU Y10, (1*64+o)(DI) \
	VMOVDQU Y11, (5*64+o)(DI) \
	VMOVDQU Y12, (2*64+o)(DI) \
	VMOVDQU Y13, (6*64+o)(DI) \
	VMOVDQU Y14, (3*64+o)(DI) \
	VMOVDQU Y15, (7*64+o)(DI)

// func xorGroups(out, in *byte, n uint64, counter *[16]byte, key *[32]byte)
TEXT ·xorGroups(SB), 0, $1024-40
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ counter+24(FP), AX
	MOVQ key+32(FP), BX
	MOVQ 8(AX), R8
	VMOVDQU ·perm<>(SB), Y15

group:
	// Input state: constants on the diagonal, key, nonce, and the block
	// counters c..c+7 split into low (word 8) and high (word 9) halves.
	VPBROADCASTD ·sigma<>+0(SB), Y0
	VPBROADCASTD 0(BX), Y1
	VPBROADCASTD 4(BX), Y2
	VPBROADCASTD 8(BX), Y3
	VPBROADCASTD 12(BX), Y4
	VPBROADCASTD ·sigma<>+4(SB), Y5
	VPBROADCASTD 0(AX), Y6
	VPBROADCASTD 4(AX), Y7
	VMOVDQU Y0, (IN+0)(SP)
	VMOVDQU Y1, (IN+32)(SP)
	VMOVDQU Y2, (IN+64)(SP)
	VMOVDQU Y3, (IN+96)(SP)
	VMOVDQU Y4, (IN+128)(SP)
	VMOVDQU Y5, (IN+160)(SP)
	VMOVDQU Y6, (IN+192)(SP)
	VMOVDQU Y7, (IN+224)(SP)
	VMOVDQU Y0, (X+0)(SP)
	VMOVDQU Y1, (X+32)(SP)
	VMOVDQU Y2, (X+64)(SP)
	VMOVDQU Y3, (X+96)(SP)
	VMOVDQU Y4, (X+128)(SP)
	VMOVDQU Y5, (X+160)(SP)
	VMOVDQU Y6, (X+192)(SP)
	VMOVDQU Y7, (X+224)(SP)

	// Counters as 64-bit lanes, then gathered into low and high words:
	// perm puts each group of four's low halves in the low 128 bits.
	MOVQ R8, X8
	VPBROADCASTQ X8, Y8
	VPADDQ ·inc<>+0(SB), Y8, Y9
	VPADDQ ·inc<>+32(SB), Y8, Y10
	VPERMD Y9, Y15, Y9
	VPERMD Y10, Y15, Y10
	VPERM2I128 $0x20, Y10, Y9, Y0
	VPERM2I128 $0x31, Y10, Y9, Y1
	VPBROADCASTD ·sigma<>+8(SB), Y2
	VPBROADCASTD 16(BX), Y3
	VPBROADCASTD 20(BX), Y4
	VPBROADCASTD 24(BX), Y5
	VPBROADCASTD 28(BX), Y6
	VPBROADCASTD ·sigma<>+12(SB), Y7
	VMOVDQU Y0, (IN+256)(SP)
	VMOVDQU Y1, (IN+288)(SP)
	VMOVDQU Y2, (IN+320)(SP)
	VMOVDQU Y3, (IN+352)(SP)
	VMOVDQU Y4, (IN+384)(SP)
	VMOVDQU Y5, (IN+416)(SP)
	VMOVDQU Y6, (IN+448)(SP)
	VMOVDQU Y7, (IN+480)(SP)
	VMOVDQU Y0, (X+256)(SP)
	VMOVDQU Y1, (X+288)(SP)
	VMOVDQU Y2, (X+320)(SP)
	VMOVDQU Y3, (X+352)(SP)
	VMOVDQU Y4, (X+384)(SP)
	VMOVDQU Y5, (X+416)(SP)
	VMOVDQU Y6, (X+448)(SP)
	VMOVDQU Y7, (X+480)(SP)

	// The rounds run in the order column A, column B, row B, row A, so
	// that four of the words each pair of quarter-rounds needs are still
	// in registers from the pair before; row A leaves x0, x1, x5, x4 in
	// Y0, Y1, Y4, Y7 for the next column A.
	LOAD4(W0, Y0, W1, Y1, W5, Y4, W4, Y7)
	LOAD4(W2, Y2, W3, Y3, W6, Y5, W7, Y6)
	MOVQ $10, DX

double:
	// Column A: (x0, x4, x8, x12) and (x5, x9, x13, x1).
	STORE4(Y2, W2, Y3, W3, Y5, W6, Y6, W7)
	LOAD4(W8, Y2, W12, Y3, W9, Y5, W13, Y6)
	QR2(Y0, Y7, Y2, Y3, Y4, Y5, Y6, Y1)
	STORE4(Y0, W0, Y7, W4, Y2, W8, Y3, W12)
	STORE4(Y4, W5, Y5, W9, Y6, W13, Y1, W1)
	// Column B: (x10, x14, x2, x6) and (x15, x3, x7, x11).
	LOAD4(W10, Y0, W14, Y1, W2, Y2, W6, Y3)
	LOAD4(W15, Y4, W3, Y5, W7, Y6, W11, Y7)
	QR2(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	// Row B: (x10, x11, x8, x9) and (x15, x12, x13, x14); x10, x11, x15,
	// x14 stay in Y0, Y7, Y4, Y1.
	STORE4(Y2, W2, Y3, W6, Y5, W3, Y6, W7)
	LOAD4(W8, Y2, W9, Y3, W12, Y5, W13, Y6)
	QR2(Y0, Y7, Y2, Y3, Y4, Y5, Y6, Y1)
	STORE4(Y0, W10, Y7, W11, Y2, W8, Y3, W9)
	STORE4(Y4, W15, Y5, W12, Y6, W13, Y1, W14)
	// Row A: (x0, x1, x2, x3) and (x5, x6, x7, x4).
	LOAD4(W0, Y0, W1, Y1, W2, Y2, W3, Y3)
	LOAD4(W5, Y4, W6, Y5, W7, Y6, W4, Y7)
	QR2(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	DECQ DX
	JNZ double

	STORE4(Y0, W0, Y1, W1, Y2, W2, Y3, W3)
	STORE4(Y4, W5, Y5, W6, Y6, W7, Y7, W4)

	FINAL(0, 0)
	FINAL(8, 32)

	VMOVDQU ·perm<>(SB), Y15
	ADDQ $8, R8
	ADDQ $512, SI
	ADDQ $512, DI
	DECQ CX
	JNZ group

	VZEROUPPER
	RET

// The words of "expand 32-byte k".
DATA ·sigma<>+0(SB)/4, $0x61707865
DATA ·sigma<>+4(SB)/4, $0x3320646e
DATA ·sigma<>+8(SB)/4, $0x79622d32
DATA ·sigma<>+12(SB)/4, $0x6b206574
GLOBL ·sigma<>(SB), RODATA|NOPTR, $16

// Block offsets 0..7 as 64-bit lanes.
DATA ·inc<>+0(SB)/8, $0
DATA ·inc<>+8(SB)/8, $1
DATA ·inc<>+16(SB)/8, $2
DATA ·inc<>+24(SB)/8, $3
DATA ·inc<>+32(SB)/8, $4
DATA ·inc<>+40(SB)/8, $5
DATA ·inc<>+48(SB)/8, $6
DATA ·inc<>+56(SB)/8, $7
GLOBL ·inc<>(SB), RODATA|NOPTR, $64

// Dword order low0 low1 low2 low3 high0 high1 high2 high3 of four 64-bit
// lanes.
DATA ·perm<>+0(SB)/4, $0
DATA ·perm<>+4(SB)/4, $2
DATA ·perm<>+8(SB)/4, $4
DATA ·perm<>+12(SB)/4, $6
DATA ·perm<>+16(SB)/4, $1
DATA ·perm<>+20(SB)/4, $3
DATA ·perm<>+24(SB)/4, $5
DATA ·perm<>+28(SB)/4, $7
GLOBL ·perm<>(SB), RODATA|NOPTR, $32

alias T = f32; // wgml:variant-f16
// C = A B (or A B^T with the override B_T) for row-major A (M x K), element
// type T, accumulating in f32; K, and N for plain B, multiples of 4
// (src/ops/matmul.c checks). The build also embeds this file as
// matmul_vec4_f16.
//
// A template like matmul.wgsl: the prelude declares C, the store hook
// `fn mm_store(r: u32, col: u32, v: f32)` and B's element type TB; for the
// entry point main_shuffle also `const G: u32` (lanes of a subgroup that
// share A's rows: min(16, the subgroup size)), `const R: u32` (32 / G) and
// `fn lane_shuffle(v: vec4<f32>, lane: u32) -> vec4<f32>` (subgroupShuffle).
//
// Larger register tiles than matmul.wgsl: 256 invocations compute a 128 x
// 128 tile of C, 8 x 8 results each, so every value read from workgroup
// memory feeds 8 FMAs (2 in matmul.wgsl's 4 x 4 scalar-A scheme). Global
// loads and workgroup reads are all 16-byte vectors (8-byte for f16). Per
// step of BK along K each invocation fetches the next step's PER chunks of A
// and of B into registers before multiplying the staged step, then stages
// them: one pair of barriers a step, the global loads in flight during the
// products.
//
// Invocation (tx, ty) owns rows ty*8 .. ty*8+7. Plain B: columns
// tx*4 .. tx*4+3 and 64+tx*4 .. 64+tx*4+3 (16-byte reads of a staged B row,
// neighbours on neighbouring banks). B^T: columns tx + 16 j, j = 0..7
// (staged B^T rows are padded like A's, so the 16 reads of one step fall in
// distinct banks two by two).

const BM: u32 = 128u;
const BN: u32 = 128u;

override B_T: bool = false;
// main_shuffle's workgroup order: consecutive workgroups take SWIZZLE tile
// rows of one tile column, then the next column (matmul.wgsl's swizzle);
// 0 or 1: row-major order.
override SWIZZLE: u32 = 0u;
override BK: u32 = 16u;       // 16 or 32 (src/ops/matmul.c picks)
override K4: u32 = BK / 4u;   // 16-byte chunks of a staged row
override LD: u32 = K4 + 1u;   // padded staged row of A (and B^T), in vec4s
override PER: u32 = BK / 8u;  // chunks of A (and of B) an invocation fetches a step

struct Params {
    M: u32,
    N: u32,
    K: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<TB>>;

// 20 KiB at BK 16, 36 KiB at 32 (src/ops/matmul.c checks the device's limit).
var<workgroup> As: array<vec4<f32>, BM * LD>;   // [m][k / 4]
var<workgroup> Bs: array<vec4<f32>, BN * LD>;   // [k][n / 4] (BK * BN / 4 used), or [n][k / 4]

// Chunk e (0 .. 256 PER - 1) of A's step tile starting at k0: row e / K4,
// chunk e % K4.
fn load_a(row0: u32, k0: u32, e: u32) -> vec4<f32> {
    let r = row0 + e / K4;
    let k = k0 + (e % K4) * 4u;
    if (r < p.M && k < p.K) { return vec4<f32>(a[(r * p.K + k) / 4u]); }
    return vec4<f32>(0.0);
}

// Chunk e of B's step tile: plain, k row e / 32 and columns (e % 32) * 4;
// transposed, like A.
fn load_b(col0: u32, k0: u32, e: u32) -> vec4<f32> {
    if (B_T) {
        let n = col0 + e / K4;
        let k = k0 + (e % K4) * 4u;
        if (n < p.N && k < p.K) { return vec4<f32>(b[(n * p.K + k) / 4u]); }
        return vec4<f32>(0.0);
    }
    let k = k0 + e / (BN / 4u);
    let n = col0 + (e % (BN / 4u)) * 4u;
    if (k < p.K && n < p.N) { return vec4<f32>(b[(k * p.N + n) / 4u]); }
    return vec4<f32>(0.0);
}

fn stage_a(e: u32, v: vec4<f32>) { As[(e / K4) * LD + e % K4] = v; }

fn stage_b(e: u32, v: vec4<f32>) {
    if (B_T) { Bs[(e / K4) * LD + e % K4] = v; } else { Bs[e] = v; }
}

fn store(r: u32, col: u32, v: f32) {
    if (r < p.M && col < p.N) { mm_store(r, col, v); }
}

// One result row's eight columns: plain B, four at c and four at c + 64;
// B^T, c + 16 j.
fn store_row(r: u32, c: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (B_T) {
        store(r, c, lo.x); store(r, c + 16u, lo.y); store(r, c + 32u, lo.z); store(r, c + 48u, lo.w);
        store(r, c + 64u, hi.x); store(r, c + 80u, hi.y); store(r, c + 96u, hi.z); store(r, c + 112u, hi.w);
        return;
    }
    store(r, c, lo.x); store(r, c + 1u, lo.y); store(r, c + 2u, lo.z); store(r, c + 3u, lo.w);
    store(r, c + 64u, hi.x); store(r, c + 65u, hi.y); store(r, c + 66u, hi.z); store(r, c + 67u, hi.w);
}

// acc + a B for a = A[r][k .. k+3] and four 16-byte reads of the staged B:
// plain B, its rows k .. k+3 at four of this invocation's columns; B^T, the
// rows of four of its columns at k .. k+3.
fn mac(acc: vec4<f32>, a: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
    if (B_T) { return acc + vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3)); }
    return fma(vec4<f32>(a.w), b3, fma(vec4<f32>(a.z), b2, fma(vec4<f32>(a.y), b1, fma(vec4<f32>(a.x), b0, acc))));
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let t = lid.y * 16u + lid.x;
    let tx = lid.x;
    let ar = lid.y * 8u * LD;   // this invocation's first staged A row

    // Accumulators: row i of the 8, lo and hi column halves. Named, not an
    // array: CPU drivers keep indexed private arrays in memory.
    var c0l = vec4<f32>(0.0); var c0h = vec4<f32>(0.0);
    var c1l = vec4<f32>(0.0); var c1h = vec4<f32>(0.0);
    var c2l = vec4<f32>(0.0); var c2h = vec4<f32>(0.0);
    var c3l = vec4<f32>(0.0); var c3h = vec4<f32>(0.0);
    var c4l = vec4<f32>(0.0); var c4h = vec4<f32>(0.0);
    var c5l = vec4<f32>(0.0); var c5h = vec4<f32>(0.0);
    var c6l = vec4<f32>(0.0); var c6h = vec4<f32>(0.0);
    var c7l = vec4<f32>(0.0); var c7h = vec4<f32>(0.0);

    // The step's chunks in registers (named; ra2 .. rb3 only when BK is 32).
    var ra0 = load_a(row0, 0u, t);
    var ra1 = load_a(row0, 0u, t + 256u);
    var rb0 = load_b(col0, 0u, t);
    var rb1 = load_b(col0, 0u, t + 256u);
    var ra2 = ra0; var ra3 = ra0; var rb2 = rb0; var rb3 = rb0;
    if (PER > 2u) {
        ra2 = load_a(row0, 0u, t + 512u); ra3 = load_a(row0, 0u, t + 768u);
        rb2 = load_b(col0, 0u, t + 512u); rb3 = load_b(col0, 0u, t + 768u);
    }
    for (var k0 = 0u; k0 < p.K; k0 += BK) {
        stage_a(t, ra0); stage_a(t + 256u, ra1);
        stage_b(t, rb0); stage_b(t + 256u, rb1);
        if (PER > 2u) {
            stage_a(t + 512u, ra2); stage_a(t + 768u, ra3);
            stage_b(t + 512u, rb2); stage_b(t + 768u, rb3);
        }
        workgroupBarrier();
        if (k0 + BK < p.K) {
            ra0 = load_a(row0, k0 + BK, t);
            ra1 = load_a(row0, k0 + BK, t + 256u);
            rb0 = load_b(col0, k0 + BK, t);
            rb1 = load_b(col0, k0 + BK, t + 256u);
            if (PER > 2u) {
                ra2 = load_a(row0, k0 + BK, t + 512u); ra3 = load_a(row0, k0 + BK, t + 768u);
                rb2 = load_b(col0, k0 + BK, t + 512u); rb3 = load_b(col0, k0 + BK, t + 768u);
            }
        }
        for (var kq = 0u; kq < K4; kq++) {
            var bl0: vec4<f32>; var bl1: vec4<f32>; var bl2: vec4<f32>; var bl3: vec4<f32>;
            var bh0: vec4<f32>; var bh1: vec4<f32>; var bh2: vec4<f32>; var bh3: vec4<f32>;
            if (B_T) {
                // Columns tx + 16 j, k .. k+3 of each.
                bl0 = Bs[tx * LD + kq]; bl1 = Bs[(tx + 16u) * LD + kq];
                bl2 = Bs[(tx + 32u) * LD + kq]; bl3 = Bs[(tx + 48u) * LD + kq];
                bh0 = Bs[(tx + 64u) * LD + kq]; bh1 = Bs[(tx + 80u) * LD + kq];
                bh2 = Bs[(tx + 96u) * LD + kq]; bh3 = Bs[(tx + 112u) * LD + kq];
            } else {
                let kb = kq * 4u * (BN / 4u);
                bl0 = Bs[kb + tx]; bh0 = Bs[kb + 16u + tx];
                bl1 = Bs[kb + 32u + tx]; bh1 = Bs[kb + 48u + tx];
                bl2 = Bs[kb + 64u + tx]; bh2 = Bs[kb + 80u + tx];
                bl3 = Bs[kb + 96u + tx]; bh3 = Bs[kb + 112u + tx];
            }
            let a0 = As[ar + kq];
            let a1 = As[ar + LD + kq];
            let a2 = As[ar + 2u * LD + kq];
            let a3 = As[ar + 3u * LD + kq];
            let a4 = As[ar + 4u * LD + kq];
            let a5 = As[ar + 5u * LD + kq];
            let a6 = As[ar + 6u * LD + kq];
            let a7 = As[ar + 7u * LD + kq];
            c0l = mac(c0l, a0, bl0, bl1, bl2, bl3); c0h = mac(c0h, a0, bh0, bh1, bh2, bh3);
            c1l = mac(c1l, a1, bl0, bl1, bl2, bl3); c1h = mac(c1h, a1, bh0, bh1, bh2, bh3);
            c2l = mac(c2l, a2, bl0, bl1, bl2, bl3); c2h = mac(c2h, a2, bh0, bh1, bh2, bh3);
            c3l = mac(c3l, a3, bl0, bl1, bl2, bl3); c3h = mac(c3h, a3, bh0, bh1, bh2, bh3);
            c4l = mac(c4l, a4, bl0, bl1, bl2, bl3); c4h = mac(c4h, a4, bh0, bh1, bh2, bh3);
            c5l = mac(c5l, a5, bl0, bl1, bl2, bl3); c5h = mac(c5h, a5, bh0, bh1, bh2, bh3);
            c6l = mac(c6l, a6, bl0, bl1, bl2, bl3); c6h = mac(c6h, a6, bh0, bh1, bh2, bh3);
            c7l = mac(c7l, a7, bl0, bl1, bl2, bl3); c7h = mac(c7h, a7, bh0, bh1, bh2, bh3);
        }
        workgroupBarrier();
    }

    let r = row0 + lid.y * 8u;
    let c = col0 + select(tx * 4u, tx, B_T);
    store_row(r, c, c0l, c0h);
    store_row(r + 1u, c, c1l, c1h);
    store_row(r + 2u, c, c2l, c2h);
    store_row(r + 3u, c, c3l, c3h);
    store_row(r + 4u, c, c4l, c4h);
    store_row(r + 5u, c, c5l, c5h);
    store_row(r + 6u, c, c6l, c6h);
    store_row(r + 7u, c, c7l, c7h);
}

// The subgroup variant: main's tiles and B staging at BK 16, but A is never
// staged. The G lanes of a subgroup that share a ty (invocation index t, lane
// t % the subgroup size: subgroups hold consecutive indices, which the tests
// check on each device) load the step's 32 chunks of their 8 rows into
// registers, chunk v = 8-row index i * 4 + kq held by lane v % G as its
// register v / G, and pass them to each other with subgroupShuffle: no
// workgroup stores or loads for A, a barrier pair a step for B alone.
@compute @workgroup_size(16, 16)
fn main_shuffle(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>) {
    var tile = wid.xy;
    if (SWIZZLE > 1u) {
        let lin = wid.y * nwg.x + wid.x;
        let band = lin / (SWIZZLE * nwg.x);          // bands of SWIZZLE tile rows
        let first = band * SWIZZLE;
        let h = min(nwg.y - first, SWIZZLE);         // the last band may be shorter
        let in_band = lin - band * SWIZZLE * nwg.x;
        tile = vec2<u32>(in_band / h, first + in_band % h);
    }
    let row0 = tile.y * BM;
    let col0 = tile.x * BN;
    let t = lid.y * 16u + lid.x;
    let tx = lid.x;
    let g = tx % G;                // this lane's place among the G
    let base = t - g;              // the first of the G, as a subgroup lane below
    let rows = row0 + lid.y * 8u;  // this ty's 8 rows

    var c0l = vec4<f32>(0.0); var c0h = vec4<f32>(0.0);
    var c1l = vec4<f32>(0.0); var c1h = vec4<f32>(0.0);
    var c2l = vec4<f32>(0.0); var c2h = vec4<f32>(0.0);
    var c3l = vec4<f32>(0.0); var c3h = vec4<f32>(0.0);
    var c4l = vec4<f32>(0.0); var c4h = vec4<f32>(0.0);
    var c5l = vec4<f32>(0.0); var c5h = vec4<f32>(0.0);
    var c6l = vec4<f32>(0.0); var c6h = vec4<f32>(0.0);
    var c7l = vec4<f32>(0.0); var c7h = vec4<f32>(0.0);

    // This lane's chunks of A for the step at k0: chunk v = j * G + g is
    // row v / 4, k0 + 4 (v % 4) (load_a's e for a 4-chunk row: rows * 4 + v).
    var ra: array<vec4<f32>, R>;
    for (var j = 0u; j < R; j++) { ra[j] = load_a(rows, 0u, j * G + g); }
    var rb0 = load_b(col0, 0u, t);
    var rb1 = load_b(col0, 0u, t + 256u);
    for (var k0 = 0u; k0 < p.K; k0 += 16u) {
        stage_b(t, rb0); stage_b(t + 256u, rb1);
        workgroupBarrier();
        var rn: array<vec4<f32>, R>;
        if (k0 + 16u < p.K) {
            for (var j = 0u; j < R; j++) { rn[j] = load_a(rows, k0 + 16u, j * G + g); }
            rb0 = load_b(col0, k0 + 16u, t);
            rb1 = load_b(col0, k0 + 16u, t + 256u);
        }
        for (var kq = 0u; kq < 4u; kq++) {
            var bl0: vec4<f32>; var bl1: vec4<f32>; var bl2: vec4<f32>; var bl3: vec4<f32>;
            var bh0: vec4<f32>; var bh1: vec4<f32>; var bh2: vec4<f32>; var bh3: vec4<f32>;
            if (B_T) {
                bl0 = Bs[tx * LD + kq]; bl1 = Bs[(tx + 16u) * LD + kq];
                bl2 = Bs[(tx + 32u) * LD + kq]; bl3 = Bs[(tx + 48u) * LD + kq];
                bh0 = Bs[(tx + 64u) * LD + kq]; bh1 = Bs[(tx + 80u) * LD + kq];
                bh2 = Bs[(tx + 96u) * LD + kq]; bh3 = Bs[(tx + 112u) * LD + kq];
            } else {
                let kb = kq * 4u * (BN / 4u);
                bl0 = Bs[kb + tx]; bh0 = Bs[kb + 16u + tx];
                bl1 = Bs[kb + 32u + tx]; bh1 = Bs[kb + 48u + tx];
                bl2 = Bs[kb + 64u + tx]; bh2 = Bs[kb + 80u + tx];
                bl3 = Bs[kb + 96u + tx]; bh3 = Bs[kb + 112u + tx];
            }
            // Row i's chunk kq is v = 4 i + kq: lane v % G, register v / G.
            let a0 = lane_shuffle(ra[kq / G], (base + kq % G) % SGN);
            let a1 = lane_shuffle(ra[(4u + kq) / G], (base + (4u + kq) % G) % SGN);
            let a2 = lane_shuffle(ra[(8u + kq) / G], (base + (8u + kq) % G) % SGN);
            let a3 = lane_shuffle(ra[(12u + kq) / G], (base + (12u + kq) % G) % SGN);
            let a4 = lane_shuffle(ra[(16u + kq) / G], (base + (16u + kq) % G) % SGN);
            let a5 = lane_shuffle(ra[(20u + kq) / G], (base + (20u + kq) % G) % SGN);
            let a6 = lane_shuffle(ra[(24u + kq) / G], (base + (24u + kq) % G) % SGN);
            let a7 = lane_shuffle(ra[(28u + kq) / G], (base + (28u + kq) % G) % SGN);
            c0l = mac(c0l, a0, bl0, bl1, bl2, bl3); c0h = mac(c0h, a0, bh0, bh1, bh2, bh3);
            c1l = mac(c1l, a1, bl0, bl1, bl2, bl3); c1h = mac(c1h, a1, bh0, bh1, bh2, bh3);
            c2l = mac(c2l, a2, bl0, bl1, bl2, bl3); c2h = mac(c2h, a2, bh0, bh1, bh2, bh3);
            c3l = mac(c3l, a3, bl0, bl1, bl2, bl3); c3h = mac(c3h, a3, bh0, bh1, bh2, bh3);
            c4l = mac(c4l, a4, bl0, bl1, bl2, bl3); c4h = mac(c4h, a4, bh0, bh1, bh2, bh3);
            c5l = mac(c5l, a5, bl0, bl1, bl2, bl3); c5h = mac(c5h, a5, bh0, bh1, bh2, bh3);
            c6l = mac(c6l, a6, bl0, bl1, bl2, bl3); c6h = mac(c6h, a6, bh0, bh1, bh2, bh3);
            c7l = mac(c7l, a7, bl0, bl1, bl2, bl3); c7h = mac(c7h, a7, bh0, bh1, bh2, bh3);
        }
        workgroupBarrier();
        ra = rn;
    }

    let c = col0 + select(tx * 4u, tx, B_T);
    store_row(rows, c, c0l, c0h);
    store_row(rows + 1u, c, c1l, c1h);
    store_row(rows + 2u, c, c2l, c2h);
    store_row(rows + 3u, c, c3l, c3h);
    store_row(rows + 4u, c, c4l, c4h);
    store_row(rows + 5u, c, c5l, c5h);
    store_row(rows + 6u, c, c6l, c6h);
    store_row(rows + 7u, c, c7l, c7h);
}

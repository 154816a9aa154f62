// Row-wide statistic of the legacy imatrix paths (quantize_row_q4_0_impl and friends):
// sigma2 = (sum of x*x over the whole row, sequential, from 0) / n_per_row, one invocation per row.
// The host computes the same value itself when a row is split over several chunks (src/gpu/row-stats.ts).

@compute @workgroup_size(WORKGROUP_SIZE)
fn row_sigma2_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let r = invocation_index(wid, nwg, lid);
  if (r >= params.n_rows) { return; }
  let base = r * params.n_per_row;
  g_inexact = false;
  var sum = 0u;
  for (var j = 0u; j < params.n_per_row; j++) {
    let x = src[base + j];
    sum = fadd(sum, fmul(x, x));
  }
  let sigma2 = fdiv(sum, f_from_u32(params.n_per_row));
  row_stats[r] = select(sigma2, ROW_STAT_INEXACT, g_inexact);
}

// A row statistic the exact-f32 fast paths could not compute: blocks that read it flag themselves.
const ROW_STAT_INEXACT: u32 = 0xffffffffu;

fn row_sigma2(row: u32) -> u32 {
  let s = row_stats[row];
  if (s == ROW_STAT_INEXACT) { g_inexact = true; }
  return s;
}

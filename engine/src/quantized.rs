//! Fast top-N for factor models: an int8 candidate index, then exact f32 re-ranking.
//!
//! [`QuantizedIndex`] keeps one symmetric int8 code per item factor (a per-item f32 scale),
//! about `n_items × k` bytes instead of the `4 · n_items × k` the exact scan reads. The codes are
//! stored interleaved: blocks of 32 items, and within a block, for each group of 4 factors, the
//! 4 codes of item 0, then of item 1, …; so one 32-byte load holds a 4-code group of 8 items and
//! one `vpdpbusd` against the user's group broadcast to every lane adds it into 8 per-item sums,
//! with no horizontal reduction. A query
//!
//! 1. quantizes the user vector to 7-bit codes (`−63..=63`, one f32 scale),
//! 2. computes integer dot products with the items, up to four users per pass over the codes
//!    ([`QuantizedIndex::recommend_group`]) (AVX-512 VNNI `vpdpbusd` where the CPU has
//!    it, chosen at run time, else AVX2 `vpmaddubsw` + `vpmaddwd`, on the user code shifted to
//!    `1..=127`, corrected by each item's precomputed code sum; a portable loop elsewhere; all
//!    give the same integers, so the same approximate scores bit for bit),
//! 3. keeps the best [`QuantizedIndex::candidate_count`] items by approximate score; seen and
//!    denied items are never offered, so they never take a candidate slot. The rows are the
//!    items in descending order of their code norm, so an upper bound on every later row's
//!    approximate score (Cauchy–Schwarz: user norm × the next row's norm, plus the largest bias
//!    left) falls as the scan goes; it stops once that bound is below the worst kept score, as
//!    no later row could enter. Popular items have the large norms: on the ML-20M-shaped model
//!    a top-10 scans about 7 % of the rows. The kept items are exactly those a full scan keeps,
//!    since every row not scanned scores below all of them,
//! 4. scores those candidates exactly, as the model's `score_user`/`score_history` would (same
//!    kernels, same operation order), and returns the best `n` sorted like
//!    [`crate::recommend::recommend`].
//!
//! Returned scores are therefore exact; only *which* items are returned can differ from the exact
//! scan, when a true top-`n` item falls outside the candidates. With an `allow` list the allowed
//! items are simply scored exactly.
//!
//! Saturation: `vpmaddubsw` adds two `u8 × i8` products into an `i16`; with user codes ≤ 127 and
//! item codes in `−127..=127` a pair is at most `2 · 127 · 127 = 32258 < 32767`. Row sums are
//! `i32` (exact for any k below ~130,000).
//!
//! Explicit ALS item biases are not folded into a quantized dimension: the approximate score adds
//! the f32 bias after scaling (one add per item), which keeps the factors' full code range.

use rayon::prelude::*;

use crate::error::{EngineError, Result};
use crate::factors::FactorView;
use crate::interactions::Row;
use crate::recommend::{
    RecommendOptions, Recommender, Seen, TrainingUsers, check_also_seen, check_history, check_item,
    check_user,
};
use crate::simd::matvec_rows_at;
use crate::topk::{ScoredItem, TopK};

/// Codes of one item in one `i32` lane: a group, the unit of the interleaved layout.
const GROUP_CODES: usize = 4;
/// Rows the scan computes between two checks of its bound.
const CHUNK_ROWS: usize = 8 * BLOCK_ITEMS;
/// Codes per row are padded to a multiple of this (two groups: the kernels keep separate sums
/// for even and odd groups, two dependency chains per accumulator).
const STRIDE_CODES: usize = 2 * GROUP_CODES;
/// Items per interleaved block (four vectors of eight `i32` lanes); the item count is padded
/// to a multiple of this.
const BLOCK_ITEMS: usize = 32;
/// Most queries one pass over the codes serves ([`QuantizedIndex::recommend_group`]).
const MAX_GROUP: usize = 4;
/// Largest magnitude of an item code.
const ITEM_LEVELS: f32 = 127.0;
/// Largest magnitude of a user code (7 bits, so that `code + USER_OFFSET` fits `1..=127`).
const USER_LEVELS: f32 = 63.0;
/// Added to user codes to make them unsigned for `vpmaddubsw`.
const USER_OFFSET: i32 = 64;

impl FactorView<'_> {
    /// A cheap fingerprint of the item side: sizes and the first and last item rows (a few
    /// cache lines), enough to catch an index queried with another model.
    fn fingerprint(&self) -> u64 {
        let items = self.item_factors();
        let head = &items[..items.len().min(16)];
        let tail = &items[items.len().saturating_sub(16)..];
        let biases = self.biases().map_or(&[][..], |b| b.item);
        let bias_ends = biases.first().into_iter().chain(biases.last());
        let mut h = (self.n_items() as u64) << 32 ^ self.n_factors() as u64;
        for v in head.iter().chain(tail).chain(bias_ends) {
            h = (h.rotate_left(5) ^ u64::from(v.to_bits())).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        h
    }
}

/// Which integer kernel computes approximate scores.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kernel {
    Portable,
    /// Holds the proof that the CPU has AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2(crate::simd::Avx2Fma),
    /// Holds the proof that the CPU also has AVX-512 VNNI on 256-bit vectors (AVX-512 VL).
    #[cfg(target_arch = "x86_64")]
    Vnni(x86::Vnni),
}

impl Kernel {
    /// The kernel's name in [`QuantizedIndex::kernels`].
    fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Self::Avx2(_) => "avx2",
            #[cfg(target_arch = "x86_64")]
            Self::Vnni(_) => "avx512-vnni",
        }
    }

    /// The fastest kernel the running CPU supports.
    pub(crate) fn detect() -> Self {
        Self::available().pop().unwrap_or(Self::Portable)
    }

    /// Every kernel the running CPU supports, slowest (portable) first.
    pub(crate) fn available() -> Vec<Self> {
        #[allow(unused_mut)] // Only the portable kernel off x86-64.
        let mut res = vec![Self::Portable];
        #[cfg(target_arch = "x86_64")]
        if let Some(avx2) = crate::simd::Avx2Fma::detect() {
            res.push(Self::Avx2(avx2));
            res.extend(x86::Vnni::detect(avx2).map(Self::Vnni));
        }
        res
    }
}

/// An int8 candidate index over a factor model's items; see the [module docs](self).
///
/// Build it once per model ([`QuantizedIndex::build`]) and query it with that same model: the
/// model supplies the user vectors and the exact re-ranking scores.
#[derive(Clone, Debug)]
pub struct QuantizedIndex {
    n_items: usize,
    n_factors: usize,
    /// Codes per item: `n_factors` rounded up to a multiple of [`STRIDE_CODES`].
    stride: usize,
    /// `n_padded × stride` codes (padding rows and columns are 0), interleaved: the code of
    /// row `r`, factor `f` is at [`code_at`]`(stride, r, f)`. Rows are the items by descending
    /// code norm (ties: lower item first), then the padding.
    codes: Vec<i8>,
    /// Per row below `n_items`: its item.
    row_items: Vec<u32>,
    /// Per item: its row.
    item_rows: Vec<u32>,
    /// Per block of rows: the largest code norm (`scale · ‖codes‖`) of its rows and every later
    /// row, i.e. its first row's.
    block_norms: Vec<f32>,
    /// Per block of rows: the largest bias of its rows and every later row.
    block_biases: Vec<f32>,
    /// Per padded row: `USER_OFFSET · Σ codes`, the shift of the unsigned user code.
    offsets: Vec<i32>,
    /// Per padded row: the f32 value of one code step.
    scales: Vec<f32>,
    /// Per padded row: the item bias (0 for models without biases and for padding).
    biases: Vec<f32>,
    fingerprint: u64,
    /// The integer kernel of the approximate scores (the fastest the CPU has, unless chosen).
    kernel: Kernel,
}

/// A user's side of a query: the factor vector and, for biased models, `μ + b_u`.
#[derive(Clone, Copy)]
struct UserQuery<'u> {
    vector: &'u [f32],
    base: Option<f32>,
}

/// Per-query buffers, reused across the users of a batch and, per thread, across queries.
#[derive(Default)]
struct Scratch {
    /// `stride` codes per user of a group.
    user_codes: Vec<u8>,
    /// One code step per user of a group.
    user_scales: Vec<f32>,
    /// Approximate scores of one chunk of rows per user of a group.
    approx: Vec<f32>,
    /// Per user of a group: its excluded rows, one bit per row.
    excluded: Vec<Vec<u64>>,
    /// Per user of a group: its shortlist.
    shortlisted: Vec<Vec<ScoredItem>>,
    /// Rows the last scan computed (for the tests).
    rows_scanned: usize,
    candidates: Vec<u32>,
    exact: Vec<f32>,
}

impl QuantizedIndex {
    /// The index of a factor model, or `None` for models without factors (kNN, EASE,
    /// popularity), which serve through the exact path.
    pub fn build(model: &dyn Recommender) -> Option<Self> {
        model.factors().map(Self::from_view)
    }

    /// The index of the items of `view`.
    pub fn from_view(view: FactorView<'_>) -> Self {
        let (k, n_items) = (view.n_factors(), view.n_items());
        let stride = k.div_ceil(STRIDE_CODES).max(1) * STRIDE_CODES;
        let n_padded = n_items.div_ceil(BLOCK_ITEMS) * BLOCK_ITEMS;
        let mut codes = vec![0i8; n_padded * stride];
        let mut offsets = vec![0i32; n_padded];
        let mut scales = vec![0f32; n_padded];
        let mut biases = vec![0f32; n_padded];
        let item_factors = |item: usize| &view.item_factors()[item * k..][..k];
        let item_biases = view.biases().map_or(&[][..], |b| b.item);
        // The code norm of every item, then the rows in descending order of it.
        let mut item_codes = vec![0i8; k];
        let norms: Vec<f32> =
            (0..n_items).map(|item| quantize_item(item_factors(item), &mut item_codes).1).collect();
        let mut row_items: Vec<u32> = (0..n_items as u32).collect();
        row_items.sort_by(|&a, &b| norms[b as usize].total_cmp(&norms[a as usize]).then(a.cmp(&b)));
        let mut item_rows = vec![0u32; n_items];
        for (row, &item) in row_items.iter().enumerate() {
            let (scale, _) = quantize_item(item_factors(item as usize), &mut item_codes);
            for (f, &code) in item_codes.iter().enumerate() {
                codes[code_at(stride, row, f)] = code;
            }
            offsets[row] = USER_OFFSET * item_codes.iter().map(|&c| i32::from(c)).sum::<i32>();
            scales[row] = scale;
            biases[row] = item_biases.get(item as usize).copied().unwrap_or(0.0);
            item_rows[item as usize] = row as u32;
        }
        let blocks = n_padded / BLOCK_ITEMS;
        let block_norms: Vec<f32> =
            (0..blocks).map(|b| row_items.get(b * BLOCK_ITEMS).map_or(0.0, |&i| norms[i as usize])).collect();
        let mut block_biases = vec![f32::NEG_INFINITY; blocks];
        let mut later = f32::NEG_INFINITY;
        for b in (0..blocks).rev() {
            later = biases[b * BLOCK_ITEMS..][..BLOCK_ITEMS].iter().fold(later, |m, &v| m.max(v));
            block_biases[b] = later;
        }
        Self {
            n_items,
            n_factors: k,
            stride,
            codes,
            row_items,
            item_rows,
            block_norms,
            block_biases,
            offsets,
            scales,
            biases,
            fingerprint: view.fingerprint(),
            kernel: Kernel::detect(),
        }
    }

    /// The integer kernels the running CPU supports, slowest first: `portable`, then on x86-64
    /// `avx2` and `avx512-vnni` where present. The index uses the last unless told otherwise.
    pub fn kernels() -> Vec<&'static str> {
        Kernel::available().into_iter().map(Kernel::name).collect()
    }

    /// The name of the kernel this index scores with.
    pub fn kernel(&self) -> &'static str {
        self.kernel.name()
    }

    /// The index scoring with the kernel `name` (one of [`Self::kernels`]), e.g. to compare
    /// kernels in one run; every kernel gives the same scores bit for bit.
    pub fn with_kernel(mut self, name: &str) -> Result<Self> {
        self.kernel = Kernel::available().into_iter().find(|k| k.name() == name).ok_or_else(|| {
            EngineError::InvalidParam {
                name: "kernel",
                value: name.to_string(),
                allowed: "one of QuantizedIndex::kernels() on this CPU",
            }
        })?;
        Ok(self)
    }

    /// Items in the index.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Latent dimension k of the indexed model.
    pub fn n_factors(&self) -> usize {
        self.n_factors
    }

    /// Heap bytes held by the index.
    pub fn memory_bytes(&self) -> usize {
        let per_row = self.offsets.len() + self.scales.len() + self.biases.len();
        let per_item = self.row_items.len() + self.item_rows.len();
        self.codes.len() + 4 * (per_row + per_item + self.block_norms.len() + self.block_biases.len())
    }

    /// How many approximate-best items are re-scored exactly for a top-`n` query:
    /// `max(4n, n + 64)`.
    pub fn candidate_count(n: usize) -> usize {
        n.saturating_mul(4).max(n.saturating_add(64))
    }

    /// Top-N for a training user, like [`crate::recommend::recommend`] (same errors, same
    /// filters, exact scores).
    pub fn recommend(
        &self,
        model: &dyn Recommender,
        users: TrainingUsers<'_>,
        user_idx: u32,
        options: &RecommendOptions<'_>,
    ) -> Result<Vec<ScoredItem>> {
        let view = self.view_of(model)?;
        let seen = self.checked_query(model, users, user_idx, options)?;
        Ok(self.with_scratch(1, |scratch| {
            self.query(view, self.user_query(view, user_idx), seen, options, scratch)
        }))
    }

    /// Top-N for many training users in parallel, like [`crate::recommend::recommend_batch`];
    /// results in the order of `users`.
    pub fn recommend_batch(
        &self,
        model: &dyn Recommender,
        training: TrainingUsers<'_>,
        users: &[u32],
        options: &RecommendOptions<'_>,
    ) -> Result<Vec<Vec<ScoredItem>>> {
        let view = self.view_of(model)?;
        check_options(options, self.n_items)?;
        for &user in users {
            check_user(user, model.n_users())?;
            training.checked(user)?;
        }
        Ok(users
            .par_iter()
            .map_init(
                || self.scratch(1),
                |scratch, &user| {
                    self.query(
                        view,
                        self.user_query(view, user),
                        training.unchecked(user).1,
                        options,
                        scratch,
                    )
                },
            )
            .collect())
    }

    /// Top-N for several training users, each query `(user, options)` answered as
    /// [`Self::recommend`] would answer it (same errors, same results bit for bit), with one
    /// pass over the int8 codes per group of up to four queries: the scan reads the codes from
    /// memory once for the group, so queries that arrive together (a server coalescing its
    /// concurrent requests) cost less than one scan each. Queries with an `allow` list are
    /// answered one by one (they scan nothing). Fails as a whole only when `model` is not the
    /// indexed one.
    pub fn recommend_group(
        &self,
        model: &dyn Recommender,
        training: TrainingUsers<'_>,
        queries: &[(u32, RecommendOptions<'_>)],
    ) -> Result<Vec<Result<Vec<ScoredItem>>>> {
        let view = self.view_of(model)?;
        let mut answers: Vec<Option<Result<Vec<ScoredItem>>>> = vec![None; queries.len()];
        let mut scanned = Vec::with_capacity(queries.len());
        for (i, query) in queries.iter().enumerate() {
            match self.checked_query(model, training, query.0, &query.1) {
                Err(err) => answers[i] = Some(Err(err)),
                Ok(seen) if query.1.allow.is_some() || query.1.n == 0 => {
                    let answer = self.with_scratch(1, |scratch| {
                        self.query(view, self.user_query(view, query.0), seen, &query.1, scratch)
                    });
                    answers[i] = Some(Ok(answer));
                }
                Ok(seen) => scanned.push((i, self.user_query(view, query.0), seen)),
            }
        }
        for group in scanned.chunks(self.kernel.max_group()) {
            let members: Vec<_> = group.iter().map(|&(i, user, seen)| (user, seen, &queries[i].1)).collect();
            let lists = self.with_scratch(group.len(), |scratch| self.scan_group(view, &members, scratch));
            for (&(i, ..), list) in group.iter().zip(lists) {
                answers[i] = Some(Ok(list));
            }
        }
        Ok(answers.into_iter().map(|a| a.expect("every query is answered")).collect())
    }

    /// Top-N for someone known by `history` and `also_seen`, like
    /// [`crate::recommend::recommend_for_history`]: the model folds the history in.
    pub fn recommend_for_history(
        &self,
        model: &dyn Recommender,
        history: Row<'_>,
        also_seen: &[u32],
        options: &RecommendOptions<'_>,
    ) -> Result<Vec<ScoredItem>> {
        let view = self.view_of(model)?;
        check_history(history, self.n_items)?;
        check_also_seen(also_seen, self.n_items)?;
        check_options(options, self.n_items)?;
        let (user, bias) = view.fold_in(history)?;
        let user = UserQuery { vector: &user, base: view.biases().map(|b| b.global_mean + bias) };
        let seen = Seen { history: history.indices, also: also_seen };
        Ok(self.with_scratch(1, |scratch| self.query(view, user, seen, options, scratch)))
    }

    /// What a training user's query leaves out as seen, once its user and filters are checked.
    fn checked_query<'t>(
        &self,
        model: &dyn Recommender,
        training: TrainingUsers<'t>,
        user_idx: u32,
        options: &RecommendOptions<'_>,
    ) -> Result<Seen<'t>> {
        check_user(user_idx, model.n_users())?;
        check_options(options, self.n_items)?;
        Ok(training.checked(user_idx)?.1)
    }

    /// The model's factors, checked against the ones the index was built from.
    fn view_of<'m>(&self, model: &'m dyn Recommender) -> Result<FactorView<'m>> {
        let view = model
            .factors()
            .ok_or(EngineError::Unsupported { model: model.kind(), operation: "quantized top-N" })?;
        let detail = if (view.n_items(), view.n_factors()) != (self.n_items, self.n_factors) {
            format!(
                "index has {} items × {} factors, model has {} × {}",
                self.n_items,
                self.n_factors,
                view.n_items(),
                view.n_factors()
            )
        } else if view.fingerprint() != self.fingerprint {
            "same shape, different item factors".to_owned()
        } else {
            return Ok(view);
        };
        Err(EngineError::IndexMismatch { model: view.kind(), detail })
    }

    fn scratch(&self, users: usize) -> Scratch {
        let mut scratch = Scratch::default();
        self.fit(&mut scratch, users);
        scratch
    }

    /// Sizes `scratch` for a group of `users` queries on this index (every buffer is
    /// overwritten before it is read).
    fn fit(&self, scratch: &mut Scratch, users: usize) {
        scratch.user_codes.resize(users * self.stride, 0);
        scratch.approx.resize(users * CHUNK_ROWS, 0.0);
        scratch.excluded.resize_with(users.max(scratch.excluded.len()), Vec::new);
        for bits in &mut scratch.excluded[..users] {
            bits.resize(self.scales.len().div_ceil(64), 0);
        }
        scratch.shortlisted.resize_with(users.max(scratch.shortlisted.len()), Vec::new);
    }

    /// Runs `f` with this thread's reused buffers, sized for `users` queries (a query
    /// allocates nothing once warm), or fresh ones if they are in use further up the stack.
    fn with_scratch<R>(&self, users: usize, f: impl FnOnce(&mut Scratch) -> R) -> R {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                self.fit(&mut scratch, users);
                f(&mut scratch)
            }
            Err(_) => f(&mut self.scratch(users)),
        })
    }

    /// A checked training user's side of a query.
    fn user_query<'v>(&self, view: FactorView<'v>, user_idx: u32) -> UserQuery<'v> {
        let k = self.n_factors;
        let vector = &view.user_factors()[user_idx as usize * k..][..k];
        let base = view.biases().map(|b| b.global_mean + b.user[user_idx as usize]);
        UserQuery { vector, base }
    }

    /// Shortlists by approximate score, then re-ranks exactly; `seen` is what `exclude_seen`
    /// excludes.
    fn query(
        &self,
        view: FactorView<'_>,
        user: UserQuery<'_>,
        seen: Seen<'_>,
        options: &RecommendOptions<'_>,
        scratch: &mut Scratch,
    ) -> Vec<ScoredItem> {
        if let Some(allow) = options.allow {
            // As the exact path's `select`: the allowed items, scored exactly.
            scratch.candidates.clear();
            scratch.candidates.extend(allow.iter().copied().filter(|&item| !denied(options, seen, item)));
            exact_at(view, user, &scratch.candidates, &mut scratch.exact);
            let mut top = TopK::new(options.n);
            for (&item, &score) in scratch.candidates.iter().zip(&scratch.exact) {
                top.push(item, score);
            }
            let mut res = top.into_sorted_vec();
            res.dedup_by_key(|s| s.item_idx);
            return res;
        }
        if options.n == 0 {
            return Vec::new();
        }
        self.scan_group(view, &[(user, seen, options)], scratch).pop().expect("one list per query")
    }

    /// The queries of `group` (at most the kernel's group size, none with an `allow` list or
    /// `n` = 0): approximate scores a chunk of rows at a time for all of them, each query's
    /// shortlist fed as they come, until no later row can enter any shortlist; then each
    /// shortlist re-ranked exactly.
    fn scan_group(
        &self,
        view: FactorView<'_>,
        group: &[(UserQuery<'_>, Seen<'_>, &RecommendOptions<'_>)],
        scratch: &mut Scratch,
    ) -> Vec<Vec<ScoredItem>> {
        let Scratch {
            user_codes,
            user_scales,
            approx,
            excluded,
            shortlisted,
            rows_scanned,
            candidates,
            exact,
        } = scratch;
        let users = group.len();
        user_scales.clear();
        let mut user_norms = [0f32; MAX_GROUP];
        let users_codes = user_codes.chunks_exact_mut(self.stride);
        for (u, ((user, seen, options), codes)) in group.iter().zip(users_codes).enumerate() {
            let scale = quantize_user(user.vector, codes);
            user_scales.push(scale);
            let squares: u32 =
                codes.iter().map(|&c| (i32::from(c) - USER_OFFSET).unsigned_abs().pow(2)).sum();
            user_norms[u] = scale * (squares as f32).sqrt();
            // Excluded rows are never offered to the shortlist, so they never take a slot.
            self.mark_excluded(seen, options, &mut excluded[u]);
        }
        let mut lists: Vec<Shortlist<'_>> = shortlisted
            .iter_mut()
            .zip(group)
            .map(|(res, (.., options))| Shortlist::new(res, Self::candidate_count(options.n)))
            .collect();
        let mut done = [false; MAX_GROUP];
        let mut first = 0;
        while first < self.n_items {
            let block = first / BLOCK_ITEMS;
            for (u, list) in lists.iter_mut().enumerate() {
                // Every later row scores at most `bound` (with a margin for f32 rounding).
                let product = user_norms[u] * self.block_norms[block];
                let bias = self.block_biases[block];
                let bound = (product + bias) + (product.abs() + bias.abs()) * 1e-5;
                done[u] = done[u] || bound < list.floor();
            }
            if done[..users].iter().all(|&d| d) {
                break;
            }
            let last = (first + CHUNK_ROWS).min(self.scales.len());
            let rows = last - first;
            let out = &mut approx[..users * rows];
            self.approx_scores(
                self.kernel,
                first..last,
                &user_codes[..users * self.stride],
                user_scales,
                out,
            );
            let real = self.n_items.min(last) - first;
            for (u, scores) in out.chunks_exact(rows).enumerate() {
                if !done[u] {
                    let rows =
                        Rows { items: &self.row_items[first..][..real], first, excluded: &excluded[u] };
                    self.kernel.feed(&mut lists[u], &scores[..real], rows);
                }
            }
            first = last;
        }
        *rows_scanned = first.min(self.n_items);
        lists
            .into_iter()
            .zip(group)
            .map(|(list, &(user, _, options))| {
                candidates.clear();
                candidates.extend(list.finish().iter().map(|s| s.item_idx));
                exact_at(view, user, candidates, exact);
                let mut top = TopK::new(options.n);
                for (&item, &score) in candidates.iter().zip(exact.iter()) {
                    top.push(item, score);
                }
                top.into_sorted_vec()
            })
            .collect()
    }

    /// Sets the bits of exactly the rows a query leaves out: its denied items and, when it
    /// excludes them, its seen ones.
    fn mark_excluded(&self, seen: &Seen<'_>, options: &RecommendOptions<'_>, bits: &mut [u64]) {
        bits.fill(0);
        let seen = if options.exclude_seen { *seen } else { Seen::default() };
        for item in options.deny.iter().copied().chain(seen.iter()) {
            if let Some(&row) = self.item_rows.get(item as usize) {
                bits[row as usize / 64] |= 1 << (row % 64);
            }
        }
    }

    /// For each user `u` of the group (`stride` codes each in `user_codes`, one step each in
    /// `user_scales`), `out[u · len + i] ≈ (user · item of row r)` for the rows `r` of `rows`
    /// (whole blocks; `i = r − rows.start`, `len` their count), as
    /// `((dot as f32 · scale_r) · user_scale) + bias_r` over the integer dot of the codes.
    pub(crate) fn approx_scores(
        &self,
        kernel: Kernel,
        rows: std::ops::Range<usize>,
        user_codes: &[u8],
        user_scales: &[f32],
        out: &mut [f32],
    ) {
        let args = KernelArgs {
            codes: &self.codes[rows.start * self.stride..rows.end * self.stride],
            stride: self.stride,
            offsets: &self.offsets[rows.clone()],
            scales: &self.scales[rows.clone()],
            biases: &self.biases[rows],
            user_codes,
            user_scales,
        };
        kernel.run(&args, out);
    }
}

/// Whether a query's filters leave `item` out.
fn denied(options: &RecommendOptions<'_>, seen: Seen<'_>, item: u32) -> bool {
    options.deny.contains(&item) || (options.exclude_seen && seen.contains(item))
}

/// Exact scores of `items` for `user`, as the model's `score_user`/`score_history` computes them.
fn exact_at(view: FactorView<'_>, user: UserQuery<'_>, items: &[u32], out: &mut Vec<f32>) {
    out.clear();
    out.resize(items.len(), 0.0);
    matvec_rows_at(view.item_factors(), user.vector, items, out);
    if let (Some(base), Some(b)) = (user.base, view.biases()) {
        // The same additions as `ExplicitAlsModel::score_all`.
        for (s, &item) in out.iter_mut().zip(items) {
            *s += base + b.item[item as usize];
        }
    }
}

impl Kernel {
    /// Most users one pass serves: as many as keep every sum in a register (AVX2 has 16 vector
    /// registers, AVX-512 32).
    fn max_group(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx2(_) => 2,
            _ => MAX_GROUP,
        }
    }

    /// Feeds `scores` of `rows` to `list` ([`Shortlist::feed`]), comparing with this kernel's
    /// vectors.
    fn feed(self, list: &mut Shortlist<'_>, scores: &[f32], rows: Rows<'_>) {
        match self {
            Self::Portable => list.feed(scores, rows, above_portable),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: both kernels' values exist only on CPUs with AVX2.
            Self::Avx2(_) | Self::Vnni(_) => unsafe { x86::feed_avx2(list, scores, rows) },
        }
    }

    /// Approximate scores of `args` into `out`, after checking every length.
    fn run(self, args: &KernelArgs<'_>, out: &mut [f32]) {
        args.check(out);
        match self {
            Self::Portable => approx_portable(args, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an `Avx2Fma` value exists only on CPUs with AVX2 and FMA, and `check`
            // validated every length the kernel relies on.
            Self::Avx2(_) => unsafe { x86::approx_avx2(args, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `Vnni` value exists only on CPUs with AVX2, FMA, AVX-512 VNNI and VL;
            // lengths as above.
            Self::Vnni(_) => unsafe { x86::approx_vnni(args, out) },
        }
    }
}

/// The rows a [`Shortlist::feed`] is offered: their items, the first one's index, and every
/// row's exclusion bit.
#[derive(Clone, Copy)]
struct Rows<'a> {
    items: &'a [u32],
    first: usize,
    excluded: &'a [u64],
}

/// The best `c` of the entries fed to it (higher score, then lower item, first; NaN never).
///
/// Entries at or above the running threshold are appended to a buffer; when it holds `2c + 64`
/// the best `c` are kept (`select_nth_unstable`) and the threshold rises to the worst of them.
/// [`Self::feed`] compares 16 scores at a time with the threshold (`above(chunk, threshold)`, a
/// bit mask of the scores at or above it) and visits only the entries above it.
struct Shortlist<'r> {
    res: &'r mut Vec<ScoredItem>,
    c: usize,
    threshold: f32,
}

impl<'r> Shortlist<'r> {
    fn new(res: &'r mut Vec<ScoredItem>, c: usize) -> Self {
        res.clear();
        Self { res, c, threshold: f32::NEG_INFINITY }
    }

    /// Keeps the best `c` entries and, once there are `c`, raises the threshold to the worst.
    fn keep_best(&mut self) {
        if self.res.len() > self.c {
            let order = |a: &ScoredItem, b: &ScoredItem| {
                b.score.total_cmp(&a.score).then(a.item_idx.cmp(&b.item_idx))
            };
            self.res.select_nth_unstable_by(self.c, order);
            self.res.truncate(self.c);
        }
        if self.res.len() == self.c {
            self.threshold = self.res.iter().map(|s| s.score).fold(f32::INFINITY, f32::min);
        }
    }

    /// Offers `scores[j]` of the item of row `rows.first + j`, for every `j` whose row is not
    /// excluded.
    #[inline(always)]
    fn feed(&mut self, scores: &[f32], rows: Rows<'_>, above: impl Fn(&[f32], f32) -> u32) {
        if self.c == 0 {
            return;
        }
        let capacity = self.c.saturating_mul(2).saturating_add(64);
        for (chunk_idx, chunk) in scores.chunks(SHORTLIST_CHUNK).enumerate() {
            let mut above = above(chunk, self.threshold);
            while above != 0 {
                let j = chunk_idx * SHORTLIST_CHUNK + above.trailing_zeros() as usize;
                above &= above - 1;
                let row = rows.first + j;
                if rows.excluded.get(row / 64).is_some_and(|bits| bits >> (row % 64) & 1 == 1) {
                    continue;
                }
                // Entries below a threshold raised mid-chunk may still be pushed; the next
                // `keep_best` drops them.
                self.res.push(ScoredItem { item_idx: rows.items[j], score: scores[j] });
                if self.res.len() == capacity {
                    self.keep_best();
                }
            }
        }
    }

    /// A score that no entry fed later can fall below and still be kept: the worst of the best
    /// `c` so far (−∞ while fewer than `c` were fed).
    fn floor(&mut self) -> f32 {
        if self.threshold == f32::NEG_INFINITY && self.res.len() >= self.c {
            self.keep_best();
        }
        self.threshold
    }

    /// The best `c` entries fed, in no particular order.
    fn finish(mut self) -> &'r [ScoredItem] {
        self.keep_best();
        let Self { res, .. } = self;
        res
    }
}

/// Scores [`Shortlist::feed`] compares with its threshold at a time.
const SHORTLIST_CHUNK: usize = 16;

/// The bit mask of the scores of `chunk` at or above `threshold` (NaN never), one at a time.
fn above_portable(chunk: &[f32], threshold: f32) -> u32 {
    chunk.iter().enumerate().fold(0u32, |mask, (j, &s)| mask | (u32::from(s >= threshold) << j))
}

fn check_options(options: &RecommendOptions<'_>, n_items: usize) -> Result<()> {
    for &item in options.allow.unwrap_or(&[]).iter().chain(options.deny) {
        check_item(item, n_items)?;
    }
    Ok(())
}

/// Writes the int8 codes of an item's `factors` (`−127..=127`) into `codes` and returns the f32
/// value of one code step and the code norm, `step · ‖codes‖`.
fn quantize_item(factors: &[f32], codes: &mut [i8]) -> (f32, f32) {
    let max = factors.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 && max.is_finite() { max / ITEM_LEVELS } else { 0.0 };
    codes.fill(0);
    if scale > 0.0 {
        for (c, v) in codes.iter_mut().zip(factors) {
            *c = (v / scale).round().clamp(-ITEM_LEVELS, ITEM_LEVELS) as i8;
        }
    }
    let squares: i64 = codes.iter().map(|&c| i64::from(c) * i64::from(c)).sum();
    (scale, (f64::from(scale) * (squares as f64).sqrt()) as f32)
}

/// Writes the unsigned 7-bit codes of `user` (`code + 64`, padding columns at 64 i.e. zero) and
/// returns the f32 value of one code step.
pub(crate) fn quantize_user(user: &[f32], codes: &mut [u8]) -> f32 {
    let max = user.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 && max.is_finite() { max / USER_LEVELS } else { 0.0 };
    codes.fill(USER_OFFSET as u8);
    if scale > 0.0 {
        for (c, v) in codes.iter_mut().zip(user) {
            *c = ((v / scale).round().clamp(-USER_LEVELS, USER_LEVELS) as i32 + USER_OFFSET) as u8;
        }
    }
    scale
}

/// Where the code of `item`, factor `factor` lives in the interleaved layout of rows of
/// `stride` codes: its block, then its group within the block, then its item within the group.
fn code_at(stride: usize, item: usize, factor: usize) -> usize {
    (item / BLOCK_ITEMS) * BLOCK_ITEMS * stride
        + (factor / GROUP_CODES) * BLOCK_ITEMS * GROUP_CODES
        + (item % BLOCK_ITEMS) * GROUP_CODES
        + factor % GROUP_CODES
}

/// The slices a kernel reads, checked once so the SIMD kernel can index without bounds checks.
struct KernelArgs<'a> {
    codes: &'a [i8],
    stride: usize,
    offsets: &'a [i32],
    scales: &'a [f32],
    biases: &'a [f32],
    /// `stride` codes per user.
    user_codes: &'a [u8],
    /// One code step per user: 1 to [`MAX_GROUP`] users.
    user_scales: &'a [f32],
}

impl KernelArgs<'_> {
    fn check(&self, out: &[f32]) {
        let (rows, users) = (self.offsets.len(), self.user_scales.len());
        assert!((1..=MAX_GROUP).contains(&users));
        assert!(rows.is_multiple_of(BLOCK_ITEMS) && self.stride.is_multiple_of(STRIDE_CODES));
        assert_eq!(self.codes.len(), rows * self.stride);
        assert_eq!(self.user_codes.len(), users * self.stride);
        assert_eq!(out.len(), users * rows);
        assert!(self.scales.len() == rows && self.biases.len() == rows);
    }
}

/// The reference kernel: signed codes multiplied directly, `i32` sums, one user at a time.
fn approx_portable(args: &KernelArgs<'_>, out: &mut [f32]) {
    let users = args.user_codes.chunks_exact(args.stride).zip(args.user_scales);
    for ((user, &user_scale), out) in users.zip(out.chunks_exact_mut(args.offsets.len())) {
        approx_portable_user(args, user, user_scale, out);
    }
}

fn approx_portable_user(args: &KernelArgs<'_>, user: &[u8], user_scale: f32, out: &mut [f32]) {
    let user: Vec<i32> = user.iter().map(|&c| i32::from(c) - USER_OFFSET).collect();
    let blocks = out.chunks_exact_mut(BLOCK_ITEMS).zip(args.codes.chunks_exact(BLOCK_ITEMS * args.stride));
    for (block, (outs, codes)) in blocks.enumerate() {
        let mut dots = [0i32; BLOCK_ITEMS];
        for (group, user) in codes.chunks_exact(BLOCK_ITEMS * GROUP_CODES).zip(user.chunks_exact(GROUP_CODES))
        {
            for (dot, item) in dots.iter_mut().zip(group.chunks_exact(GROUP_CODES)) {
                *dot += item.iter().zip(user).map(|(&c, &u)| i32::from(c) * u).sum::<i32>();
            }
        }
        for (j, (o, dot)) in outs.iter_mut().zip(dots).enumerate() {
            let item = block * BLOCK_ITEMS + j;
            *o = ((dot as f32) * args.scales[item]) * user_scale + args.biases[item];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{BLOCK_ITEMS, GROUP_CODES, KernelArgs, Rows, SHORTLIST_CHUNK, Shortlist, above_portable};

    /// [`Shortlist::feed`] comparing a whole chunk in two vector compares.
    ///
    /// Callers must have detected AVX2.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn feed_avx2(list: &mut Shortlist<'_>, scores: &[f32], rows: Rows<'_>) {
        list.feed(scores, rows, |chunk, threshold| {
            if chunk.len() < SHORTLIST_CHUNK {
                return above_portable(chunk, threshold);
            }
            let threshold = _mm256_set1_ps(threshold);
            // SAFETY: the chunk holds 16 scores: two 8-lane loads.
            let (lo, hi) =
                unsafe { (_mm256_loadu_ps(chunk.as_ptr()), _mm256_loadu_ps(chunk.as_ptr().add(8))) };
            // Ordered compares: NaN is never at or above the threshold.
            let lo = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(lo, threshold)) as u32;
            let hi = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(hi, threshold)) as u32;
            lo | hi << 8
        });
    }

    /// Proof that the CPU has AVX2, FMA, AVX-512 VNNI and AVX-512 VL (`vpdpbusd` on 256-bit
    /// vectors).
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Vnni(());

    impl Vnni {
        /// `Some` on CPUs with AVX-512 VNNI and VL (AVX2 and FMA proven by `_avx2`).
        pub(crate) fn detect(_avx2: crate::simd::Avx2Fma) -> Option<Self> {
            (std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512vl"))
                .then_some(Self(()))
        }
    }

    /// As [`approx_avx2`], with one `vpdpbusd` (four `u8 × i8` products summed into each
    /// `i32` lane, no intermediate `i16`) in place of `vpmaddubsw` + `vpmaddwd` + `vpaddd`.
    ///
    /// Callers must have run `args.check(out)` and detected the features of [`Vnni`].
    #[target_feature(enable = "avx2,fma,avx512vnni,avx512vl")]
    pub(super) fn approx_vnni(args: &KernelArgs<'_>, out: &mut [f32]) {
        let step = |acc, u, v| _mm256_dpbusd_epi32(acc, u, v);
        match args.user_scales.len() {
            1 => approx_blocks::<1>(args, out, step),
            2 => approx_blocks::<2>(args, out, step),
            3 => approx_blocks::<3>(args, out, step),
            _ => approx_blocks::<4>(args, out, step),
        }
    }

    /// `vpmaddubsw` + `vpmaddwd` + `vpaddd` per step; groups of at most two users (their sums
    /// fill the 16 AVX2 registers).
    ///
    /// Callers must have run `args.check(out)` (lengths) and detected AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn approx_avx2(args: &KernelArgs<'_>, out: &mut [f32]) {
        let ones = _mm256_set1_epi16(1);
        // |pair sums| ≤ 2·127·127 < 32767: no saturation.
        let step = |acc, u, v| _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, v), ones));
        match args.user_scales.len() {
            1 => approx_blocks::<1>(args, out, step),
            2 => approx_blocks::<2>(args, out, step),
            users => {
                let rows = args.offsets.len();
                for (first, out) in (0..users).step_by(2).zip(out.chunks_mut(2 * rows)) {
                    let last = (first + 2).min(users);
                    let pair = KernelArgs {
                        user_codes: &args.user_codes[first * args.stride..last * args.stride],
                        user_scales: &args.user_scales[first..last],
                        ..*args
                    };
                    match last - first {
                        1 => approx_blocks::<1>(&pair, out, step),
                        _ => approx_blocks::<2>(&pair, out, step),
                    }
                }
            }
        }
    }

    /// The interleaved scan both kernels share, for `USERS` users at once: per block of 32
    /// items, the four vectors of one 4-code group are loaded once and, for each user, its four
    /// codes broadcast and `step(acc, user, items)` adds their `u8 × i8` products into eight
    /// items' lanes. A lone user keeps even and odd groups in separate sums (two dependency
    /// chains per vector); several users are independent chains already.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn approx_blocks<const USERS: usize>(
        args: &KernelArgs<'_>,
        out: &mut [f32],
        step: impl Fn(__m256i, __m256i, __m256i) -> __m256i,
    ) {
        const VECTORS: usize = BLOCK_ITEMS / 8;
        const GROUP_BYTES: usize = BLOCK_ITEMS * GROUP_CODES;
        let split = USERS == 1;
        let (rows, stride) = (args.offsets.len(), args.stride);
        let groups = stride / GROUP_CODES;
        let user = args.user_codes.as_ptr();
        for block in 0..rows / BLOCK_ITEMS {
            let first = block * BLOCK_ITEMS;
            let mut even = [[_mm256_setzero_si256(); VECTORS]; USERS];
            let mut odd = [[_mm256_setzero_si256(); VECTORS]; USERS];
            // SAFETY (all loads and the stores): `check` guarantees `rows` rows of `stride`
            // codes (so whole blocks of `BLOCK_ITEMS · stride`), `USERS · stride` user codes and
            // `USERS · rows` outputs, `stride` a multiple of two groups and `rows` (and the
            // per-row slices) a multiple of `BLOCK_ITEMS`, so every 32-byte, 4-byte and 8-lane
            // access is in bounds.
            unsafe {
                let codes = args.codes.as_ptr().add(first * stride);
                for pair in (0..groups).step_by(2) {
                    for group in [pair, pair + 1] {
                        let at = codes.add(group * GROUP_BYTES);
                        let items: [__m256i; VECTORS] =
                            std::array::from_fn(|q| _mm256_loadu_si256(at.add(32 * q).cast()));
                        let sums = if split && group != pair { &mut odd } else { &mut even };
                        for (u, sums) in sums.iter_mut().enumerate() {
                            let codes = user.add(u * stride + group * GROUP_CODES);
                            let u = _mm256_set1_epi32(codes.cast::<i32>().read_unaligned());
                            for (sum, &v) in sums.iter_mut().zip(&items) {
                                *sum = step(*sum, u, v);
                            }
                        }
                    }
                }
                for u in 0..USERS {
                    let user_scale = _mm256_set1_ps(args.user_scales[u]);
                    for q in 0..VECTORS {
                        let at = first + 8 * q;
                        let offsets = _mm256_loadu_si256(args.offsets.as_ptr().add(at).cast());
                        let dots = _mm256_sub_epi32(_mm256_add_epi32(even[u][q], odd[u][q]), offsets);
                        let scales = _mm256_loadu_ps(args.scales.as_ptr().add(at));
                        let biases = _mm256_loadu_ps(args.biases.as_ptr().add(at));
                        // Same operations, same order as the portable kernel (no FMA).
                        let scaled =
                            _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(dots), scales), user_scale);
                        _mm256_storeu_ps(out.as_mut_ptr().add(u * rows + at), _mm256_add_ps(scaled, biases));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::{ImplicitAlsModel, ImplicitAlsParams};
    use crate::explicit_als::{ExplicitAlsModel, ExplicitAlsParams, ExplicitAlsParts};
    use crate::interactions::{Duplicates, Interaction, Interactions};
    use crate::params::Params;
    use crate::popularity::{self, PopularityParams};
    use crate::recommend::{TrainingUsers, recommend, recommend_batch, recommend_for_history};
    use crate::rng::Rng;

    fn uniform(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| (rng.next_f32() - 0.5) * scale).collect()
    }

    fn implicit_model(n_users: usize, n_items: usize, k: usize, seed: u64) -> ImplicitAlsModel {
        let mut rng = Rng::new(seed);
        let params = ImplicitAlsParams { factors: k, ..Default::default() }.check().unwrap();
        let users = uniform(&mut rng, n_users * k, 1.0);
        let items = uniform(&mut rng, n_items * k, 1.0);
        ImplicitAlsModel::from_factors(&params, n_users, n_items, users, items).unwrap()
    }

    fn explicit_model(n_users: usize, n_items: usize, k: usize, seed: u64) -> ExplicitAlsModel {
        let mut rng = Rng::new(seed);
        let users = uniform(&mut rng, n_users * k, 0.6);
        let items = uniform(&mut rng, n_items * k, 0.6);
        // Biases several times larger than a factor: they decide much of the ranking.
        let user_biases = uniform(&mut rng, n_users, 2.0);
        explicit_from(k, users, items, user_biases, uniform(&mut rng, n_items, 4.0))
    }

    /// An explicit ALS model of these factors and biases (global mean 3.5, ratings 0.5..5).
    fn explicit_from(
        k: usize,
        user_factors: Vec<f32>,
        item_factors: Vec<f32>,
        user_biases: Vec<f32>,
        item_biases: Vec<f32>,
    ) -> ExplicitAlsModel {
        let params = ExplicitAlsParams { factors: k, samples: 0, ..Default::default() }.check().unwrap();
        let (n_users, n_items) = (user_biases.len(), item_biases.len());
        let parts = ExplicitAlsParts {
            n_users,
            n_items,
            global_mean: 3.5,
            rating_min: 0.5,
            rating_max: 5.0,
            user_factors,
            item_factors,
            user_biases,
            item_biases,
        };
        ExplicitAlsModel::from_parts(&params, parts).unwrap()
    }

    /// `per_user` random items per user (duplicates merged).
    fn random_seen(n_users: usize, n_items: usize, per_user: usize, seed: u64) -> Interactions {
        let mut rng = Rng::new(seed);
        let entries: Vec<Interaction> = (0..n_users as u32)
            .flat_map(|user_idx| {
                (0..per_user)
                    .map(|_| Interaction {
                        user_idx,
                        item_idx: rng.below(n_items as u64) as u32,
                        value: 1.0 + rng.next_f32() * 4.0,
                        timestamp: 0,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        Interactions::from_entries(n_users, n_items, &entries, Duplicates::Sum).unwrap()
    }

    /// Asserts the quantized result is the exact one: same items, same order, same score bits.
    fn assert_same(quantized: &[ScoredItem], exact: &[ScoredItem], what: &str) {
        let bits = |r: &[ScoredItem]| r.iter().map(|s| (s.item_idx, s.score.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(quantized), bits(exact), "{what}");
    }

    impl QuantizedIndex {
        /// The `stride` codes of `row`, gathered from the interleaved layout.
        fn row_codes(&self, row: usize) -> Vec<i8> {
            (0..self.stride).map(|f| self.codes[code_at(self.stride, row, f)]).collect()
        }
    }

    #[test]
    fn kernels_agree_bit_for_bit_with_the_integer_reference() {
        // Shapes around the 32-code and 8-item paddings; rows that hit the code extremes.
        for (n_items, k) in [(1usize, 1usize), (8, 7), (13, 32), (29, 33), (64, 128), (17, 200)] {
            for biased in [false, true] {
                let implicit;
                let explicit;
                let view = if biased {
                    explicit = explicit_model(3, n_items, k, 11 + k as u64);
                    explicit.factors().unwrap()
                } else {
                    let mut rng = Rng::new(k as u64);
                    let params = ImplicitAlsParams { factors: k, ..Default::default() }.check().unwrap();
                    let mut items = uniform(&mut rng, n_items * k, 1.0);
                    items[..k].fill(0.7); // every code +127
                    if n_items > 1 {
                        items[k..2 * k].fill(-0.2); // every code −127
                    }
                    implicit =
                        ImplicitAlsModel::from_factors(&params, 1, n_items, vec![0.0; k], items).unwrap();
                    implicit.factors().unwrap()
                };
                let index = QuantizedIndex::from_view(view);
                let mut rng = Rng::new(99);
                let users = [
                    uniform(&mut rng, k, 1.0),
                    vec![3.0; k],                                                  // codes +63
                    (0..k).map(|j| if j % 2 == 0 { -1.0 } else { 1.0 }).collect(), // ±63
                    vec![0.0; k],
                ];
                let rows = index.scales.len();
                let mut codes = vec![0u8; users.len() * index.stride];
                let user_scales: Vec<f32> = users
                    .iter()
                    .zip(codes.chunks_exact_mut(index.stride))
                    .map(|(user, codes)| quantize_user(user, codes))
                    .collect();
                // Every group size: one user alone, the first two, three and four as a group.
                for group in 1..=MAX_GROUP {
                    for kernel in Kernel::available() {
                        let mut out = vec![f32::NAN; group * rows];
                        index.approx_scores(
                            kernel,
                            0..rows,
                            &codes[..group * index.stride],
                            &user_scales[..group],
                            &mut out,
                        );
                        for (u, (out, codes)) in
                            out.chunks_exact(rows).zip(codes.chunks_exact(index.stride)).enumerate()
                        {
                            for (item, &got) in out.iter().enumerate() {
                                let row = index.row_codes(item);
                                let dot: i64 = row
                                    .iter()
                                    .zip(codes)
                                    .map(|(&c, &u)| i64::from(c) * (i64::from(u) - 64))
                                    .sum();
                                let want =
                                    ((dot as f32) * index.scales[item]) * user_scales[u] + index.biases[item];
                                assert_eq!(
                                    got.to_bits(),
                                    want.to_bits(),
                                    "{kernel:?} items={n_items} k={k} biased={biased} group={group} user={u} item={item}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn shortlist_keeps_the_best_by_score_then_index() {
        let mut rng = Rng::new(3);
        // Few distinct values (many ties), some NaN and −∞, and an ascending run (the worst case
        // for a running threshold).
        let mut scores: Vec<f32> = (0..5_000).map(|_| (rng.below(200) as f32 - 100.0) / 8.0).collect();
        for i in (0..5_000).step_by(97) {
            scores[i] = f32::NAN;
        }
        for i in (5..5_000).step_by(89) {
            scores[i] = f32::NEG_INFINITY;
        }
        scores.extend((0..700).map(|i| i as f32 / 50.0));
        // Items in another order than the scores: ties go to the lower item.
        let items: Vec<u32> = (0..scores.len() as u32).map(|i| (i * 7_919) % scores.len() as u32).collect();
        let mut sorted: Vec<(u32, f32)> =
            items.iter().zip(&scores).filter(|(_, s)| !s.is_nan()).map(|(&i, &s)| (i, s)).collect();
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut res = Vec::new();
        for (c, kernel) in [0usize, 1, 10, 74, 300, 5_600, 10_000]
            .into_iter()
            .flat_map(|c| Kernel::available().into_iter().map(move |k| (c, k)))
        {
            // Fed in pieces of different lengths, as a scan feeds its chunks.
            let mut list = Shortlist::new(&mut res, c);
            let mut first = 0;
            for len in [256, 1_000, 3, 16, 2_000].into_iter().cycle() {
                let last = (first + len).min(scores.len());
                let rows = Rows { items: &items[first..last], first, excluded: &[] };
                kernel.feed(&mut list, &scores[first..last], rows);
                first = last;
                if first == scores.len() {
                    break;
                }
            }
            let mut got: Vec<(u32, f32)> = list.finish().iter().map(|s| (s.item_idx, s.score)).collect();
            got.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            assert_eq!(got, sorted[..c.min(sorted.len())], "c={c} {kernel:?}");
        }
    }

    /// Items whose norms fall by orders of magnitude (as a trained model's do, from popular to
    /// rare): the scan stops early and still answers every query as the exact path does.
    #[test]
    fn the_scan_stops_when_no_later_row_can_enter_and_answers_as_the_exact_path() {
        let (n_users, n_items, k) = (60, 8_000, 32);
        for biased in [false, true] {
            let mut rng = Rng::new(80);
            let mut items = uniform(&mut rng, n_items * k, 1.0);
            for (item, factors) in items.chunks_exact_mut(k).enumerate() {
                let norm = 1.0 / (1.0 + item as f32 / 50.0);
                factors.iter_mut().for_each(|v| *v *= norm);
            }
            let users = uniform(&mut rng, n_users * k, 1.0);
            let model: Box<dyn Recommender> = if biased {
                let user_biases = uniform(&mut rng, n_users, 0.2);
                // Biases that fall with popularity too, as trained ones tend to.
                let item_biases =
                    (0..n_items).map(|i| 0.3 / (1.0 + i as f32 / 50.0) + rng.next_f32() * 0.01).collect();
                Box::new(explicit_from(k, users, items, user_biases, item_biases))
            } else {
                let params = ImplicitAlsParams { factors: k, ..Default::default() }.check().unwrap();
                Box::new(ImplicitAlsModel::from_factors(&params, n_users, n_items, users, items).unwrap())
            };
            let seen = random_seen(n_users, n_items, 40, 81);
            let training = TrainingUsers::learned_only(seen.user_items());
            let index = QuantizedIndex::build(model.as_ref()).unwrap();
            let view = index.view_of(model.as_ref()).unwrap();
            let mut scanned = 0;
            for user in 0..n_users as u32 {
                let options = RecommendOptions::default();
                let exact = recommend(model.as_ref(), training, user, &options).unwrap();
                let (quantized, rows) = index.with_scratch(1, |scratch| {
                    let seen = training.checked(user).unwrap().1;
                    let list = index.query(view, index.user_query(view, user), seen, &options, scratch);
                    (list, scratch.rows_scanned)
                });
                assert_same(&quantized, &exact, &format!("biased={biased} user {user}"));
                scanned += rows;
            }
            // Measured: 0.29 of the rows without biases, 0.13 with them.
            let share = scanned as f64 / (n_users * n_items) as f64;
            assert!(share < 0.5, "biased={biased}: scanned {share:.3} of the rows");
        }
    }

    #[test]
    fn codes_approximate_the_factors() {
        let model = implicit_model(50, 300, 48, 5);
        let index = QuantizedIndex::build(&model).unwrap();
        assert_eq!((index.n_items(), index.n_factors(), index.stride), (300, 48, 48));
        // Codes (1 byte) and offset, scale and bias (4 each) per padded row; row and item maps
        // (4 each) per item; norm and bias bounds (4 each) per block.
        assert_eq!(index.memory_bytes(), 320 * 48 + 320 * 12 + 300 * 8 + 10 * 8);
        for row in 300..320 {
            assert!(index.row_codes(row).iter().all(|&c| c == 0), "padding rows are zero");
        }
        let mut norms = Vec::new();
        for (item, factors) in model.item_factors().chunks_exact(48).enumerate() {
            let row = index.item_rows[item] as usize;
            assert_eq!(index.row_items[row] as usize, item);
            let codes = index.row_codes(row);
            assert_eq!(codes.len(), 48);
            assert_eq!(
                codes.iter().map(|c| c.unsigned_abs()).max(),
                Some(127),
                "item {item} uses the full range"
            );
            for (c, v) in codes.iter().zip(factors) {
                assert!((f32::from(*c) * index.scales[row] - v).abs() <= index.scales[row] * 0.5 + 1e-6);
            }
            norms.push((
                row,
                codes.iter().map(|&c| f64::from(c).powi(2)).sum::<f64>().sqrt()
                    * f64::from(index.scales[row]),
            ));
        }
        // Rows in descending norm; each block's bound is the largest norm from it on.
        norms.sort_unstable_by_key(|&(row, _)| row);
        assert!(norms.windows(2).all(|w| w[0].1 >= w[1].1 * (1.0 - 1e-6)), "rows by descending norm");
        for (block, &bound) in index.block_norms.iter().enumerate() {
            let later = norms[(block * BLOCK_ITEMS).min(300)..].iter().map(|n| n.1).fold(0.0, f64::max);
            assert!((f64::from(bound) - later).abs() <= later * 1e-6, "block {block}: {bound} vs {later}");
        }
    }

    /// Recall@10 of the quantized path against the exact one over every user of a random
    /// model of the ML-20M shape; also the share of users with the same top-1 and with an
    /// identical list, and exact scores for every returned item.
    #[test]
    fn recall_on_a_random_model_of_the_ml20m_shape() {
        let (n_users, n_items, k) = (600, 26_744, 128);
        let model = implicit_model(n_users, n_items, k, 20);
        let seen = random_seen(n_users, n_items, 80, 21);
        let index = QuantizedIndex::build(&model).unwrap();
        let options = RecommendOptions::default();
        let users: Vec<u32> = (0..n_users as u32).collect();
        let exact = recommend_batch(&model, TrainingUsers::learned_only(seen.user_items()), &users, &options)
            .unwrap();
        let quantized = index
            .recommend_batch(&model, TrainingUsers::learned_only(seen.user_items()), &users, &options)
            .unwrap();
        let (mut hits, mut same_top1, mut identical) = (0, 0, 0);
        let mut scores = vec![0f32; n_items];
        for (&user, (q, e)) in users.iter().zip(quantized.iter().zip(&exact)) {
            assert_eq!(q.len(), 10);
            hits += q.iter().filter(|s| e.iter().any(|x| x.item_idx == s.item_idx)).count();
            same_top1 += usize::from(q[0].item_idx == e[0].item_idx);
            identical += usize::from(q == e);
            model.score_user(user, seen.user_items().row(user as usize), &mut scores).unwrap();
            for s in q {
                assert_eq!(s.score.to_bits(), scores[s.item_idx as usize].to_bits(), "user {user}");
            }
        }
        let recall = hits as f64 / (10 * n_users) as f64;
        // Measured: recall 1.0, same top-1 and identical lists for all 600 users.
        assert!(recall >= 0.99, "recall@10 {recall:.4}");
        assert!(same_top1 as f64 >= 0.99 * n_users as f64, "same top-1 for {same_top1}/{n_users}");
        assert!(identical as f64 >= 0.95 * n_users as f64, "identical lists for {identical}/{n_users}");
        // The single-user query is the batch query, whichever kernel scores it.
        assert_eq!(index.kernel(), *QuantizedIndex::kernels().last().unwrap());
        for kernel in QuantizedIndex::kernels() {
            let index = index.clone().with_kernel(kernel).unwrap();
            assert_eq!(index.kernel(), kernel);
            for user in [0u32, 17, 599] {
                let single = index
                    .recommend(&model, TrainingUsers::learned_only(seen.user_items()), user, &options)
                    .unwrap();
                assert_same(&single, &quantized[user as usize], &format!("{kernel}: single vs batch"));
            }
        }
        let err = index.clone().with_kernel("avx9000").unwrap_err();
        assert!(err.to_string().contains("`kernel` = avx9000"), "{err}");
    }

    #[test]
    fn a_group_answers_each_query_as_alone_whatever_its_size_and_kernel() {
        let (n_users, n_items) = (12, 4_000);
        let model = implicit_model(n_users, n_items, 40, 70);
        let seen = random_seen(n_users, n_items, 60, 71);
        let training = TrainingUsers::learned_only(seen.user_items());
        let deny = [5u32, 77, 1_234];
        let allow = [1u32, 2, 3, 500, 3_999];
        let option_cases = [
            RecommendOptions::default(),
            RecommendOptions { n: 25, exclude_seen: false, allow: None, deny: &deny },
            RecommendOptions { n: 3, exclude_seen: true, allow: Some(&allow), deny: &[] },
            RecommendOptions { n: 0, ..Default::default() },
            RecommendOptions { n: 7, exclude_seen: true, allow: None, deny: &deny },
        ];
        // Twelve users, plus an unknown user and a bad deny list amid them.
        let bad_deny = [4_000u32];
        let mut queries: Vec<(u32, RecommendOptions<'_>)> =
            (0..n_users as u32).map(|u| (u, option_cases[u as usize % option_cases.len()])).collect();
        queries.insert(3, (n_users as u32, RecommendOptions::default()));
        queries.insert(8, (1, RecommendOptions { deny: &bad_deny, ..Default::default() }));
        for kernel in QuantizedIndex::kernels() {
            let index = QuantizedIndex::build(&model).unwrap().with_kernel(kernel).unwrap();
            for size in [1, 2, 3, 5, queries.len()] {
                let queries = &queries[..size];
                let answers = index.recommend_group(&model, training, queries).unwrap();
                assert_eq!(answers.len(), size);
                for (&(user, options), answer) in queries.iter().zip(answers) {
                    let alone = index.recommend(&model, training, user, &options);
                    match (answer, alone) {
                        (Ok(group), Ok(alone)) => {
                            assert_same(&group, &alone, &format!("{kernel} size {size} user {user}"));
                            assert_eq!(group.len(), options.n.min(n_items));
                        }
                        (Err(group), Err(alone)) => assert_eq!(group, alone, "{kernel} user {user}"),
                        (group, alone) => panic!("{kernel} user {user}: {group:?} vs {alone:?}"),
                    }
                }
            }
        }
        let popular = popularity::fit(&PopularityParams::default().check().unwrap(), &seen).unwrap();
        let index = QuantizedIndex::build(&model).unwrap();
        assert!(matches!(
            index.recommend_group(&popular, training, &queries).unwrap_err(),
            EngineError::Unsupported { operation: "quantized top-N", .. }
        ));
    }

    #[test]
    fn filters_match_the_exact_path() {
        let (n_users, n_items) = (40, 3_001);
        let model = implicit_model(n_users, n_items, 32, 30);
        let seen = random_seen(n_users, n_items, 200, 31);
        let index = QuantizedIndex::build(&model).unwrap();
        let mut rng = Rng::new(32);
        for user in 0..n_users as u32 {
            let history = seen.user_items().row(user as usize);
            let top = recommend(
                &model,
                TrainingUsers::learned_only(seen.user_items()),
                user,
                &RecommendOptions { n: 5, ..Default::default() },
            )
            .unwrap();
            // Deny the exact top 3 and some random items; allow random items, some seen or denied.
            let mut deny: Vec<u32> = top[..3].iter().map(|s| s.item_idx).collect();
            deny.extend((0..5).map(|_| rng.below(n_items as u64) as u32));
            let mut allow: Vec<u32> = (0..60).map(|_| rng.below(n_items as u64) as u32).collect();
            allow.extend_from_slice(&deny[..2]);
            allow.extend_from_slice(&history.indices[..3]);
            allow.push(allow[0]);
            let cases = [
                RecommendOptions { n: 10, exclude_seen: true, allow: None, deny: &deny },
                RecommendOptions { n: 10, exclude_seen: false, allow: None, deny: &[] },
                RecommendOptions { n: 25, exclude_seen: true, allow: Some(&allow), deny: &deny },
                RecommendOptions { n: 100, exclude_seen: false, allow: Some(&allow), deny: &[] },
                RecommendOptions { n: 0, ..Default::default() },
                // More candidates than items: excluded items reach the shortlist and are dropped.
                RecommendOptions { n: 2_950, exclude_seen: true, allow: None, deny: &deny },
            ];
            for (case, options) in cases.iter().enumerate() {
                let exact =
                    recommend(&model, TrainingUsers::learned_only(seen.user_items()), user, options).unwrap();
                let quantized = index
                    .recommend(&model, TrainingUsers::learned_only(seen.user_items()), user, options)
                    .unwrap();
                assert_same(&quantized, &exact, &format!("user {user} case {case}"));
                for s in &quantized {
                    assert!(!options.deny.contains(&s.item_idx), "denied item returned");
                    assert!(!(options.exclude_seen && history.contains(s.item_idx)), "seen item returned");
                    assert!(options.allow.is_none_or(|a| a.contains(&s.item_idx)), "item outside allow");
                }
            }
        }
    }

    #[test]
    fn explicit_biases_give_the_exact_scores_of_score_user_and_score_history() {
        let (n_users, n_items) = (30, 2_000);
        let model = explicit_model(n_users, n_items, 24, 40);
        let seen = random_seen(n_users, n_items, 30, 41);
        let index = QuantizedIndex::build(&model).unwrap();
        let options = RecommendOptions { n: 20, ..Default::default() };
        let mut scores = vec![0f32; n_items];
        for user in 0..n_users as u32 {
            let history = seen.user_items().row(user as usize);
            let quantized = index
                .recommend(&model, TrainingUsers::learned_only(seen.user_items()), user, &options)
                .unwrap();
            model.score_user(user, history, &mut scores).unwrap();
            for s in &quantized {
                assert_eq!(s.score.to_bits(), scores[s.item_idx as usize].to_bits(), "user {user}");
            }
            assert_same(
                &quantized,
                &recommend(&model, TrainingUsers::learned_only(seen.user_items()), user, &options).unwrap(),
                "score_user",
            );
            let folded = index.recommend_for_history(&model, history, &[], &options).unwrap();
            model.score_history(history, &mut scores).unwrap();
            for s in &folded {
                assert_eq!(s.score.to_bits(), scores[s.item_idx as usize].to_bits(), "fold-in user {user}");
            }
            assert_same(
                &folded,
                &recommend_for_history(&model, history, &[], &options).unwrap(),
                "score_history",
            );
        }
        // An empty history: μ + b_i only, i.e. the items with the largest biases.
        let empty = index.recommend_for_history(&model, Row::new(&[], &[]), &[], &options).unwrap();
        assert_same(
            &empty,
            &recommend_for_history(&model, Row::new(&[], &[]), &[], &options).unwrap(),
            "empty",
        );
    }

    #[test]
    fn implicit_fold_in_matches_the_exact_path() {
        let model = implicit_model(20, 1_500, 16, 50);
        let seen = random_seen(20, 1_500, 40, 51);
        let index = QuantizedIndex::build(&model).unwrap();
        for user in 0..20 {
            let history = seen.user_items().row(user);
            let options = RecommendOptions::default();
            let exact = recommend_for_history(&model, history, &[], &options).unwrap();
            assert_same(
                &index.recommend_for_history(&model, history, &[], &options).unwrap(),
                &exact,
                "fold-in",
            );
        }
    }

    #[test]
    fn errors_match_the_exact_path_and_name_the_model() {
        let model = implicit_model(5, 100, 8, 60);
        let seen = random_seen(5, 100, 10, 61);
        let index = QuantizedIndex::build(&model).unwrap();
        let csr = seen.user_items();
        let opts = RecommendOptions::default();
        let bad_deny = RecommendOptions { deny: &[100], ..Default::default() };
        let bad_allow = RecommendOptions { allow: Some(&[3, 250]), ..Default::default() };
        for (what, options, user) in [("user", &opts, 5u32), ("deny", &bad_deny, 0), ("allow", &bad_allow, 0)]
        {
            let exact = recommend(&model, TrainingUsers::learned_only(csr), user, options).unwrap_err();
            assert_eq!(
                index.recommend(&model, TrainingUsers::learned_only(csr), user, options).unwrap_err(),
                exact,
                "{what}"
            );
            assert_eq!(
                index
                    .recommend_batch(&model, TrainingUsers::learned_only(csr), &[0, user], options)
                    .unwrap_err(),
                exact,
                "{what}"
            );
        }
        assert_eq!(
            index.recommend(&model, TrainingUsers::learned_only(csr), 5, &opts).unwrap_err(),
            EngineError::UnknownUser { user_idx: 5, n_users: 5 }
        );
        let history = Row::new(&[3, 100], &[1.0, 1.0]);
        assert_eq!(
            index.recommend_for_history(&model, history, &[], &opts).unwrap_err(),
            EngineError::UnknownItem { item_idx: 100, n_items: 100 }
        );
        // A model without factors: no index, and the index refuses to serve it.
        let popular = popularity::fit(&PopularityParams::default().check().unwrap(), &seen).unwrap();
        assert!(QuantizedIndex::build(&popular).is_none());
        assert!(matches!(
            index.recommend(&popular, TrainingUsers::learned_only(csr), 0, &opts).unwrap_err(),
            EngineError::Unsupported { operation: "quantized top-N", .. }
        ));
        // Another model: different shape, or same shape and different factors.
        for other in [implicit_model(5, 100, 16, 60), implicit_model(5, 100, 8, 62)] {
            let err = index.recommend(&other, TrainingUsers::learned_only(csr), 0, &opts).unwrap_err();
            assert!(matches!(err, EngineError::IndexMismatch { model: "implicit-als", .. }), "{err}");
        }
        // A clone of the model is the same model.
        assert!(index.recommend(&model.clone(), TrainingUsers::learned_only(csr), 0, &opts).is_ok());
    }
}

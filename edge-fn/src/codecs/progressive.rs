//! Progressive JPEG at a reduced scale, in a fraction of its coefficients' memory.
//!
//! A progressive JPEG sends each block's 64 coefficients over several scans, so
//! a decoder keeps all of them for every block until the last scan:
//! jpeg-decoder holds 128 bytes a block, 94 MiB for a 33 MP photo at 4:2:0. Decoded at
//! 1/2, 1/4 or 1/8 scale, the IDCT reads only each block's top-left 4×4, 2×2 or
//! 1×1 coefficients. This module entropy-decodes every scan itself and keeps
//! those, plus one bit for each of the 63 AC coefficients (whether it is
//! nonzero yet: refinement scans need that to find their way through a block):
//! 40, 16 or 10 bytes a block. It then hands jpeg-decoder a *baseline* JPEG
//! with the same frame and quantization tables, its entropy-coded data written
//! from the kept coefficients while the decoder reads it (no second copy of
//! the image), which jpeg-decoder decodes at the same scale into the same
//! pixels as the progressive original (tests compare them byte for byte).
//!
//! The hidden cost is a second, cheap entropy pass: the baseline stream has a
//! handful of symbols a block. Errors in the data are 415s, as jpeg-decoder's.
//!
//! jpeg-decoder, not libjpeg (which decodes every other JPEG), because its
//! scaled IDCTs read only those top-left coefficients. libjpeg's 4×4 and 2×2
//! IDCTs read coefficients 5 to 7 too, and it decodes 4:2:0 chroma with an
//! IDCT twice the size (upsampling folded into it): fed the kept coefficients
//! its pixels are 19–39 dB from a box-filtered full decode, where libjpeg's
//! own decode of the original is 39–52 dB and jpeg-decoder's of the kept
//! coefficients is its decode of the original.

use std::io::{self, Read};

use crate::error::Error;

/// The zigzag scan order: the natural (row-major) index of each zigzag position.
const ZIGZAG: [u8; 64] = zigzag();

const fn zigzag() -> [u8; 64] {
    let mut order = [0u8; 64];
    let (mut i, mut sum) = (0, 0);
    while sum < 15 {
        // Along each anti-diagonal, alternately up and down.
        let mut step = 0;
        while step <= sum {
            let row = if sum % 2 == 0 { sum - step } else { step };
            let col = sum - row;
            if row < 8 && col < 8 {
                order[i] = (row * 8 + col) as u8;
                i += 1;
            }
            step += 1;
        }
        sum += 1;
    }
    order
}

/// The side of the square of coefficients kept per block at scale
/// 1/`denominator` (2, 4 or 8).
fn kept_side(denominator: u32) -> usize {
    match denominator {
        2 => 4,
        4 => 2,
        _ => 1,
    }
}

/// Bytes [`Baseline::new`] holds for `blocks` 8×8 blocks (all components, with
/// MCU padding) at scale 1/`denominator`, besides the source: the kept
/// coefficients, the nonzero bits, the baseline JPEG's headers (the source's
/// quantization tables and colour markers, at most 64 KiB each) and the
/// buffer the stream is written through.
pub fn held_bytes(blocks: u64, denominator: u32) -> u64 {
    let side = kept_side(denominator) as u64;
    blocks * (2 * side * side + 8) + 4 * 65_536 + 2 * STAGE_BYTES as u64
}

/// How much of the stream is written ahead of the reader.
const STAGE_BYTES: usize = 16 * 1024;

/// One frame component.
#[derive(Debug, Clone, Copy, Default)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: u8,
    /// Blocks a row and rows of blocks in storage (with MCU padding).
    stored_w: usize,
    stored_h: usize,
    /// Blocks a row and rows of blocks a single-component scan visits.
    scan_w: usize,
    scan_h: usize,
    /// The component's first block in storage.
    first: usize,
}

/// The frame: size, components, MCU grid.
#[derive(Debug, Clone, Default)]
struct Frame {
    width: u16,
    height: u16,
    components: Vec<Component>,
    mcus_x: usize,
    mcus_y: usize,
}

impl Frame {
    fn parse(segment: &[u8]) -> Result<Frame, Error> {
        let bad = || Error::UnsupportedImage("the JPEG's frame header is malformed".into());
        let &[precision, h0, h1, w0, w1, count, ..] = segment else { return Err(bad()) };
        if precision != 8 {
            return Err(Error::UnsupportedImage(format!(
                "this progressive JPEG has {precision}-bit samples; 8-bit ones are supported"
            )));
        }
        let (height, width) = (u16::from_be_bytes([h0, h1]), u16::from_be_bytes([w0, w1]));
        let specs = segment.get(6..6 + 3 * usize::from(count)).ok_or_else(bad)?;
        if width == 0 || height == 0 || !(1..=4).contains(&count) {
            return Err(bad());
        }
        let mut components: Vec<Component> = specs
            .chunks_exact(3)
            .map(|c| Component {
                id: c[0],
                h: usize::from(c[1] >> 4),
                v: usize::from(c[1] & 15),
                tq: c[2],
                ..Default::default()
            })
            .collect();
        if components.iter().any(|c| !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v) || c.tq > 3) {
            return Err(bad());
        }
        let h_max = components.iter().map(|c| c.h).max().unwrap_or(1);
        let v_max = components.iter().map(|c| c.v).max().unwrap_or(1);
        let (w, h) = (usize::from(width), usize::from(height));
        let (mcus_x, mcus_y) = (w.div_ceil(8 * h_max), h.div_ceil(8 * v_max));
        let mut first = 0;
        for c in &mut components {
            c.stored_w = mcus_x * c.h;
            c.stored_h = mcus_y * c.v;
            c.scan_w = (w * c.h).div_ceil(h_max).div_ceil(8);
            c.scan_h = (h * c.v).div_ceil(v_max).div_ceil(8);
            c.first = first;
            first += c.stored_w * c.stored_h;
        }
        Ok(Frame { width, height, components, mcus_x, mcus_y })
    }

    fn blocks(&self) -> usize {
        self.components.iter().map(|c| c.stored_w * c.stored_h).sum()
    }

    /// MCUs a scan of `components` (indices into the frame's) has: one
    /// block each when it has a single component.
    fn mcus(&self, components: &[usize]) -> usize {
        match components {
            &[only] => self.components[only].scan_w * self.components[only].scan_h,
            _ => self.mcus_x * self.mcus_y,
        }
    }

    /// The blocks of MCU `mcu` of a scan of `components`, in order: the
    /// scan's component slot and the block's index in storage.
    fn mcu_blocks(&self, components: &[usize], mcu: usize, out: &mut Vec<(usize, usize)>) {
        out.clear();
        if let &[only] = components {
            let c = &self.components[only];
            out.push((0, c.first + mcu / c.scan_w * c.stored_w + mcu % c.scan_w));
            return;
        }
        let (mx, my) = (mcu % self.mcus_x, mcu / self.mcus_x);
        for (slot, &index) in components.iter().enumerate() {
            let c = &self.components[index];
            for y in 0..c.v {
                let row = c.first + (my * c.v + y) * c.stored_w + mx * c.h;
                out.extend((0..c.h).map(|x| (slot, row + x)));
            }
        }
    }
}

/// A Huffman table for decoding: a 9-bit lookup for short codes, canonical
/// ranges for the rest.
#[derive(Clone)]
struct Table {
    /// `(length << 8) | symbol` for each 9-bit prefix; 0 where the code is longer.
    lookup: Box<[u16; 1 << LOOKUP_BITS]>,
    /// For AC tables, each 9-bit prefix that holds a whole code and its
    /// value bits: `value << 16 | run << 8 | bits`; 0 where it does not.
    run_value: Box<[u32; 1 << LOOKUP_BITS]>,
    /// Largest code of each length (−1 when none), and the index of its first symbol.
    max_code: [i32; 17],
    offset: [i32; 17],
    symbols: Vec<u8>,
}

const LOOKUP_BITS: u32 = 9;

impl Table {
    fn parse(counts: &[u8; 16], symbols: &[u8]) -> Result<Table, Error> {
        let mut lookup = Box::new([0u16; 1 << LOOKUP_BITS]);
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        let (mut code, mut k) = (0u32, 0usize);
        for length in 1..=16u32 {
            let count = usize::from(counts[length as usize - 1]);
            offset[length as usize] = k as i32 - code as i32;
            for _ in 0..count {
                if code >= 1 << length {
                    return Err(Error::UnsupportedImage("the JPEG has an invalid Huffman table".into()));
                }
                if length <= LOOKUP_BITS {
                    let shift = LOOKUP_BITS - length;
                    for fill in 0..1u32 << shift {
                        lookup[((code << shift) | fill) as usize] = (length as u16) << 8 | u16::from(symbols[k]);
                    }
                }
                code += 1;
                k += 1;
            }
            if count > 0 {
                max_code[length as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        let mut run_value = Box::new([0u32; 1 << LOOKUP_BITS]);
        for (prefix, entry) in run_value.iter_mut().enumerate() {
            let (length, symbol) = (u32::from(lookup[prefix] >> 8), lookup[prefix] as u8);
            let (run, size) = (u32::from(symbol >> 4), u32::from(symbol & 15));
            if length == 0 || size == 0 || length + size > LOOKUP_BITS {
                continue;
            }
            let bits = (prefix as u32 >> (LOOKUP_BITS - length - size)) & ((1 << size) - 1);
            let value = if bits < 1 << (size - 1) { bits as i32 - (1 << size) + 1 } else { bits as i32 };
            *entry = (value as i16 as u16 as u32) << 16 | run << 8 | (length + size);
        }
        Ok(Table { lookup, run_value, max_code, offset, symbols: symbols.to_vec() })
    }
}

/// Reads entropy-coded bits: `FF 00` is a stuffed `FF`; at a marker, zeros.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    count: u32,
}

impl Bits<'_> {
    #[inline]
    fn refill(&mut self) {
        while self.count <= 56 {
            let byte = match self.data.get(self.pos) {
                Some(0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                    self.pos += 2;
                    0xFF
                }
                // A marker: zeros from here.
                Some(0xFF) => 0,
                Some(&byte) => {
                    self.pos += 1;
                    byte
                }
                None => 0,
            };
            self.acc |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    #[inline]
    fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.count < n {
            self.refill();
        }
        let value = (self.acc >> (64 - n)) as u32;
        self.acc <<= n;
        self.count -= n;
        value
    }

    /// A magnitude category's `size` bits, sign-extended (F.2.2.1).
    #[inline]
    fn extend(&mut self, size: u32) -> i32 {
        let value = self.bits(size) as i32;
        if size > 0 && value < 1 << (size - 1) { value - (1 << size) + 1 } else { value }
    }

    #[inline]
    fn symbol(&mut self, table: &Table) -> Result<u8, Error> {
        if self.count < 16 {
            self.refill();
        }
        let entry = table.lookup[(self.acc >> (64 - LOOKUP_BITS)) as usize];
        if entry != 0 {
            let length = u32::from(entry >> 8);
            self.acc <<= length;
            self.count -= length;
            return Ok(entry as u8);
        }
        for length in LOOKUP_BITS + 1..=16 {
            let code = (self.acc >> (64 - length)) as i32;
            if code <= table.max_code[length as usize] {
                self.acc <<= length;
                self.count -= length;
                let index = (table.offset[length as usize] + code) as usize;
                return table.symbols.get(index).copied().ok_or_else(invalid_code);
            }
        }
        Err(invalid_code())
    }

    /// Past a restart marker: the bits left belong to the interval before.
    fn restart(&mut self) {
        self.acc = 0;
        self.count = 0;
        while let Some(offset) = self.data.get(self.pos..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) {
            let at = self.pos + offset;
            match self.data.get(at + 1) {
                Some(0) => self.pos = at + 2,
                Some(0xD0..=0xD7) => {
                    self.pos = at + 2;
                    return;
                }
                _ => {
                    self.pos = at;
                    return;
                }
            }
        }
    }
}

fn invalid_code() -> Error {
    Error::UnsupportedImage("the JPEG cannot be decoded: an invalid Huffman code".into())
}

/// The kept coefficients and nonzero bits of every block.
struct Coefficients {
    /// Kept per block (1, 4 or 16), at `slot[zigzag position]`.
    kept: usize,
    slot: [u8; 64],
    /// The kept AC coefficients' zigzag positions and slots, in zigzag order.
    kept_ac: Vec<(usize, usize)>,
    values: Vec<i16>,
    /// Bit `k` is set once the coefficient at zigzag position `k` is nonzero.
    nonzero: Vec<u64>,
}

const NOT_KEPT: u8 = 0xFF;

impl Coefficients {
    fn new(blocks: usize, side: usize) -> Coefficients {
        let mut slot = [NOT_KEPT; 64];
        for (k, &natural) in ZIGZAG.iter().enumerate() {
            let (row, col) = (usize::from(natural) / 8, usize::from(natural) % 8);
            if row < side && col < side {
                slot[k] = (row * side + col) as u8;
            }
        }
        let kept_ac = (1..64).filter(|&k| slot[k] != NOT_KEPT).map(|k| (k, usize::from(slot[k]))).collect();
        Coefficients {
            kept: side * side,
            slot,
            kept_ac,
            values: vec![0; blocks * side * side],
            nonzero: vec![0; blocks],
        }
    }

    #[inline]
    fn at(&mut self, block: usize, k: usize) -> Option<&mut i16> {
        match self.slot[k] {
            NOT_KEPT => None,
            slot => Some(&mut self.values[block * self.kept + usize::from(slot)]),
        }
    }
}

/// A scan's parameters.
struct Scan {
    /// Frame component indices, with their DC and AC table numbers.
    components: Vec<usize>,
    tables: Vec<(usize, usize)>,
    start: usize,
    end: usize,
    high: u32,
    low: u32,
}

/// Decodes every scan of a progressive JPEG into the kept coefficients.
struct Decoder<'a> {
    data: &'a [u8],
    frame: Frame,
    coefficients: Option<Coefficients>,
    side: usize,
    dc: [Option<Table>; 4],
    ac: [Option<Table>; 4],
    restart_interval: usize,
    /// Each quantization table's latest definition (its `Pq Tq` byte first).
    quantization: [Option<Vec<u8>>; 4],
    /// Segments the baseline JPEG repeats: the first JFIF and Adobe markers.
    kept_segments: Vec<u8>,
    seen_jfif: bool,
    seen_adobe: bool,
}

impl<'a> Decoder<'a> {
    fn run(&mut self) -> Result<(), Error> {
        let data = self.data;
        if !data.starts_with(&[0xFF, 0xD8]) {
            return Err(Error::UnsupportedImage("the JPEG does not start with SOI".into()));
        }
        for (marker, segment, after) in crate::codecs::survey::segments(data) {
            let Some(segment) = segment else {
                return Err(Error::UnsupportedImage("the JPEG ends inside a marker segment".into()));
            };
            match marker {
                0xC2 => {
                    if self.coefficients.is_some() {
                        return Err(Error::UnsupportedImage("the JPEG has two frames".into()));
                    }
                    self.frame = Frame::parse(segment)?;
                    self.coefficients = Some(Coefficients::new(self.frame.blocks(), self.side));
                }
                0xC0 | 0xC1 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                    return Err(Error::UnsupportedImage("the JPEG is not a Huffman-coded progressive one".into()));
                }
                0xC4 => self.tables(segment)?,
                0xDB => self.quantization_tables(segment)?,
                0xDD => {
                    let &[a, b, ..] = segment else { return Err(Error::UnsupportedImage("a malformed DRI".into())) };
                    self.restart_interval = usize::from(u16::from_be_bytes([a, b]));
                }
                0xE0 if !self.seen_jfif && segment.starts_with(b"JFIF\0") => {
                    self.seen_jfif = true;
                    write_segment(&mut self.kept_segments, marker, segment);
                }
                0xEE if !self.seen_adobe && segment.starts_with(b"Adobe") => {
                    self.seen_adobe = true;
                    write_segment(&mut self.kept_segments, marker, segment);
                }
                0xDA => {
                    let scan = self.scan_header(segment)?;
                    // The entropy-coded data follows the header.
                    let mut bits = Bits { data, pos: after, acc: 0, count: 0 };
                    self.decode_scan(&scan, &mut bits)?;
                }
                _ => {}
            }
        }
        if self.coefficients.is_none() {
            return Err(Error::UnsupportedImage("the JPEG has no frame header".into()));
        }
        Ok(())
    }

    fn tables(&mut self, mut segment: &[u8]) -> Result<(), Error> {
        let bad = || Error::UnsupportedImage("the JPEG has a malformed Huffman table".into());
        while let Some((&class_id, rest)) = segment.split_first() {
            let counts: &[u8; 16] = rest.get(..16).and_then(|c| c.try_into().ok()).ok_or_else(bad)?;
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let symbols = rest.get(16..16 + total).ok_or_else(bad)?;
            let (class, id) = (class_id >> 4, usize::from(class_id & 15));
            if id > 3 || class > 1 || total > 256 {
                return Err(bad());
            }
            let table = Some(Table::parse(counts, symbols)?);
            if class == 0 {
                self.dc[id] = table
            } else {
                self.ac[id] = table
            }
            segment = &rest[16 + total..];
        }
        Ok(())
    }

    fn quantization_tables(&mut self, mut segment: &[u8]) -> Result<(), Error> {
        while let Some(&pq_tq) = segment.first() {
            let length = if pq_tq >> 4 == 0 { 65 } else { 129 };
            let table = segment.get(..length).filter(|_| pq_tq >> 4 <= 1 && pq_tq & 15 <= 3);
            let table = table.ok_or_else(|| Error::UnsupportedImage("the JPEG has a malformed DQT".into()))?;
            self.quantization[usize::from(pq_tq & 15)] = Some(table.to_vec());
            segment = &segment[length..];
        }
        Ok(())
    }

    fn scan_header(&self, segment: &[u8]) -> Result<Scan, Error> {
        let bad = |what: &str| Error::UnsupportedImage(format!("the JPEG has a malformed scan header: {what}"));
        let count = usize::from(*segment.first().ok_or_else(|| bad("empty"))?);
        let selectors = segment.get(1..1 + 2 * count).ok_or_else(|| bad("too short"))?;
        let &[start, end, approximation] = segment.get(1 + 2 * count..4 + 2 * count).ok_or_else(|| bad("too short"))?
        else {
            return Err(bad("too short"));
        };
        if self.coefficients.is_none() {
            return Err(bad("a scan before the frame header"));
        }
        let (start, end) = (usize::from(start), usize::from(end));
        let (high, low) = (u32::from(approximation >> 4), u32::from(approximation & 15));
        if count == 0 || count > self.frame.components.len() || start > end || end > 63 || low > 13 {
            return Err(bad("out of range"));
        }
        if (start == 0) != (end == 0) || (start > 0 && count != 1) {
            return Err(bad("a progressive scan mixes DC and AC, or interleaves AC"));
        }
        let mut components = Vec::with_capacity(count);
        let mut tables = Vec::with_capacity(count);
        for pair in selectors.chunks_exact(2) {
            let index =
                self.frame.components.iter().position(|c| c.id == pair[0]).ok_or_else(|| bad("unknown component"))?;
            let (dc, ac) = (usize::from(pair[1] >> 4), usize::from(pair[1] & 15));
            if dc > 3 || ac > 3 || components.contains(&index) {
                return Err(bad("bad table or repeated component"));
            }
            let needed = if start == 0 { high == 0 && self.dc[dc].is_none() } else { self.ac[ac].is_none() };
            if needed {
                return Err(bad("a Huffman table it names is not defined"));
            }
            components.push(index);
            tables.push((dc, ac));
        }
        Ok(Scan { components, tables, start, end, high, low })
    }

    fn decode_scan(&mut self, scan: &Scan, bits: &mut Bits<'_>) -> Result<(), Error> {
        let coefficients = self.coefficients.as_mut().expect("checked by scan_header");
        let (frame, interval) = (&self.frame, self.restart_interval);
        let mut eob_run = 0u32;
        let low = scan.low;
        match (scan.start, scan.high) {
            (0, 0) => {
                let tables: Vec<&Table> =
                    scan.tables.iter().map(|&(dc, _)| self.dc[dc].as_ref().expect("checked by scan_header")).collect();
                let mut predictors = [0i32; 4];
                each_block(frame, scan, interval, bits, |bits, slot, block, restarted| {
                    if restarted {
                        predictors = [0; 4];
                    }
                    let size = u32::from(bits.symbol(tables[slot])?);
                    if size > 11 {
                        return Err(Error::UnsupportedImage("the JPEG has an invalid DC difference".into()));
                    }
                    let predictor = &mut predictors[slot];
                    *predictor = (*predictor + bits.extend(size)) as i16 as i32;
                    coefficients.values[block * coefficients.kept] = (*predictor as i16).wrapping_shl(low);
                    Ok(())
                })
            }
            (0, _) => each_block(frame, scan, interval, bits, |bits, _, block, _| {
                if bits.bits(1) == 1 {
                    coefficients.values[block * coefficients.kept] |= 1 << low;
                }
                Ok(())
            }),
            (_, high) => {
                let table = self.ac[scan.tables[0].1].as_ref().expect("checked by scan_header");
                each_block(frame, scan, interval, bits, |bits, _, block, restarted| {
                    if restarted {
                        eob_run = 0;
                    }
                    if high == 0 {
                        ac_first(bits, table, coefficients, block, scan, &mut eob_run)
                    } else {
                        ac_refine(bits, table, coefficients, block, scan, &mut eob_run)
                    }
                })
            }
        }
    }
}

/// Calls `f(bits, slot, block, restarted)` for each block a scan visits, in
/// order, past a restart marker every `interval` MCUs (`restarted` is true
/// for the first block after one).
#[inline]
fn each_block(
    frame: &Frame,
    scan: &Scan,
    interval: usize,
    bits: &mut Bits<'_>,
    mut f: impl FnMut(&mut Bits<'_>, usize, usize, bool) -> Result<(), Error>,
) -> Result<(), Error> {
    // MCUs before the next restart marker.
    let mut left = interval;
    let mut next_mcu = |bits: &mut Bits<'_>| {
        if interval == 0 {
            false
        } else if left == 0 {
            bits.restart();
            left = interval - 1;
            true
        } else {
            left -= 1;
            false
        }
    };
    if let &[only] = &scan.components[..] {
        // One block an MCU, row by row.
        let c = &frame.components[only];
        for y in 0..c.scan_h {
            let row = c.first + y * c.stored_w;
            for block in row..row + c.scan_w {
                let restarted = next_mcu(bits);
                f(bits, 0, block, restarted)?;
            }
        }
        return Ok(());
    }
    let mut blocks = Vec::with_capacity(64);
    for mcu in 0..frame.mcus(&scan.components) {
        let restarted = next_mcu(bits);
        frame.mcu_blocks(&scan.components, mcu, &mut blocks);
        for (i, &(slot, block)) in blocks.iter().enumerate() {
            f(bits, slot, block, restarted && i == 0)?;
        }
    }
    Ok(())
}

/// The first scan of a band (G.1.2.2): run-length coded values, and runs of
/// blocks with nothing in the band.
#[inline]
fn ac_first(
    bits: &mut Bits<'_>,
    table: &Table,
    coefficients: &mut Coefficients,
    block: usize,
    scan: &Scan,
    eob_run: &mut u32,
) -> Result<(), Error> {
    if *eob_run > 0 {
        *eob_run -= 1;
        return Ok(());
    }
    let mut k = scan.start;
    while k <= scan.end {
        if bits.count < 16 {
            bits.refill();
        }
        // Short codes with their value bits in one lookup, others in two steps.
        let fast = table.run_value[(bits.acc >> (64 - LOOKUP_BITS)) as usize];
        let (run, value) = if fast != 0 {
            bits.acc <<= fast & 0xFF;
            bits.count -= fast & 0xFF;
            ((fast >> 8 & 0xFF) as usize, i32::from((fast >> 16) as i16))
        } else {
            let symbol = bits.symbol(table)?;
            let (run, size) = (usize::from(symbol >> 4), u32::from(symbol & 15));
            if size == 0 {
                if run == 15 {
                    k += 16;
                    continue;
                }
                *eob_run = (1 << run) - 1 + bits.bits(run as u32);
                break;
            }
            (run, bits.extend(size))
        };
        k += run;
        if k > scan.end {
            break;
        }
        coefficients.nonzero[block] |= 1 << k;
        if let Some(c) = coefficients.at(block, k) {
            *c = (value as i16).wrapping_shl(scan.low);
        }
        k += 1;
    }
    Ok(())
}

/// A refinement scan (G.1.2.3): one more bit of each coefficient already
/// nonzero, and new coefficients of magnitude 1 in the runs of zeros.
#[inline]
fn ac_refine(
    bits: &mut Bits<'_>,
    table: &Table,
    coefficients: &mut Coefficients,
    block: usize,
    scan: &Scan,
    eob_run: &mut u32,
) -> Result<(), Error> {
    let bit = 1i16 << scan.low;
    let refine = |bits: &mut Bits<'_>, coefficients: &mut Coefficients, k: usize| {
        if bits.bits(1) == 1
            && let Some(c) = coefficients.at(block, k)
            && *c & bit == 0
        {
            *c = if *c >= 0 { c.wrapping_add(bit) } else { c.wrapping_sub(bit) };
        }
    };
    let mut k = scan.start;
    if *eob_run == 0 {
        while k <= scan.end {
            let symbol = bits.symbol(table)?;
            let (mut run, size) = (symbol >> 4, symbol & 15);
            let mut value = 0i16;
            match size {
                0 if run < 15 => {
                    *eob_run = (1 << run) + bits.bits(u32::from(run));
                    break;
                }
                0 => {}
                1 => value = if bits.bits(1) == 1 { bit } else { -bit },
                _ => return Err(Error::UnsupportedImage("the JPEG has an invalid refinement code".into())),
            }
            while k <= scan.end {
                if coefficients.nonzero[block] & (1 << k) != 0 {
                    refine(bits, coefficients, k);
                } else {
                    if run == 0 {
                        break;
                    }
                    run -= 1;
                }
                k += 1;
            }
            if value != 0 && k <= scan.end {
                coefficients.nonzero[block] |= 1 << k;
                if let Some(c) = coefficients.at(block, k) {
                    *c = value;
                }
            }
            k += 1;
        }
    }
    if *eob_run > 0 {
        while k <= scan.end {
            if coefficients.nonzero[block] & (1 << k) != 0 {
                refine(bits, coefficients, k);
            }
            k += 1;
        }
        *eob_run -= 1;
    }
    Ok(())
}

/// The progressive JPEG's kept coefficients as a baseline JPEG, written as it
/// is read.
pub struct Baseline {
    /// Headers first, then the entropy-coded data a stage at a time.
    stage: Vec<u8>,
    read: usize,
    coefficients: Coefficients,
    frame: Frame,
    components: Vec<usize>,
    /// The next MCU to write, and how many there are.
    mcu: usize,
    mcus: usize,
    predictors: [i32; 4],
    /// Each AC symbol's 8-bit code.
    ac_code: [u8; 256],
    acc: u64,
    count: u32,
    finished: bool,
}

/// Appends a marker segment: the marker, its length, its body.
fn write_segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&(body.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(body);
}

/// The baseline stream's AC symbols, each coded in 8 bits (its index here):
/// EOB, ZRL, then every run and size of an 8-bit JPEG.
fn ac_symbols() -> Vec<u8> {
    let mut symbols = vec![0x00, 0xF0];
    for run in 0..16u8 {
        for size in 1..=10u8 {
            symbols.push(run << 4 | size);
        }
    }
    symbols
}

impl Baseline {
    /// Decodes every scan of the progressive JPEG `input`, keeping what scale
    /// 1/`denominator` (2, 4 or 8) needs.
    pub fn new(input: &[u8], denominator: u32) -> Result<Baseline, Error> {
        let side = kept_side(denominator);
        let mut decoder = Decoder {
            data: input,
            frame: Frame::default(),
            coefficients: None,
            side,
            dc: Default::default(),
            ac: Default::default(),
            restart_interval: 0,
            quantization: Default::default(),
            kept_segments: Vec::new(),
            seen_jfif: false,
            seen_adobe: false,
        };
        decoder.run()?;
        let Decoder { frame, coefficients, quantization, kept_segments, .. } = decoder;
        let coefficients = coefficients.expect("run checks the frame");

        let mut stage = Vec::with_capacity(STAGE_BYTES.max(kept_segments.len() + 512));
        stage.extend_from_slice(&[0xFF, 0xD8]);
        stage.extend_from_slice(&kept_segments);
        let tables: Vec<u8> = quantization.iter().flatten().flatten().copied().collect();
        write_segment(&mut stage, 0xDB, &tables);
        let mut sof = vec![8];
        sof.extend_from_slice(&frame.height.to_be_bytes());
        sof.extend_from_slice(&frame.width.to_be_bytes());
        sof.push(frame.components.len() as u8);
        for c in &frame.components {
            sof.extend_from_slice(&[c.id, (c.h as u8) << 4 | c.v as u8, c.tq]);
        }
        write_segment(&mut stage, 0xC0, &sof);
        // DC sizes 0–11 in 4 bits each; the AC symbols in 8 bits each.
        let mut dht = vec![0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        dht.extend(0..12u8);
        let symbols = ac_symbols();
        dht.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0, 0, symbols.len() as u8, 0, 0, 0, 0, 0, 0, 0, 0]);
        dht.extend_from_slice(&symbols);
        write_segment(&mut stage, 0xC4, &dht);
        let mut sos = vec![frame.components.len() as u8];
        for c in &frame.components {
            sos.extend_from_slice(&[c.id, 0x00]);
        }
        sos.extend_from_slice(&[0, 63, 0]);
        write_segment(&mut stage, 0xDA, &sos);

        let components: Vec<usize> = (0..frame.components.len()).collect();
        let mut ac_code = [0u8; 256];
        for (i, &symbol) in symbols.iter().enumerate() {
            ac_code[usize::from(symbol)] = i as u8;
        }
        let mcus = frame.mcus(&components);
        Ok(Baseline {
            stage,
            read: 0,
            coefficients,
            frame,
            components,
            mcu: 0,
            mcus,
            predictors: [0; 4],
            ac_code,
            acc: 0,
            count: 0,
            finished: false,
        })
    }

    #[inline]
    fn put(&mut self, code: u32, length: u32) {
        self.acc = (self.acc << length) | u64::from(code);
        self.count += length;
        while self.count >= 8 {
            self.count -= 8;
            let byte = (self.acc >> self.count) as u8;
            self.stage.push(byte);
            if byte == 0xFF {
                self.stage.push(0);
            }
        }
    }

    /// Writes MCUs until a stage is full, then the end.
    fn write_stage(&mut self) -> io::Result<()> {
        self.stage.clear();
        self.read = 0;
        let out_of_range = || io::Error::new(io::ErrorKind::InvalidData, "a coefficient out of the 8-bit range");
        let mut blocks = Vec::with_capacity(64);
        // An MCU writes at most 64 blocks of 104 bytes (16 coefficients of
        // 26 bits, every byte stuffed): the stage stays within its capacity.
        while self.stage.len() < STAGE_BYTES / 2 && self.mcu < self.mcus {
            self.frame.mcu_blocks(&self.components, self.mcu, &mut blocks);
            self.mcu += 1;
            for &(slot, block) in &blocks {
                let kept = self.coefficients.kept;
                let base = block * kept;
                let dc = i32::from(self.coefficients.values[base]);
                let diff = (dc - self.predictors[slot]) as i16 as i32;
                self.predictors[slot] = dc;
                let size = 32 - diff.unsigned_abs().leading_zeros();
                if size > 11 {
                    return Err(out_of_range());
                }
                self.put(size, 4);
                self.put((if diff < 0 { diff - 1 } else { diff }) as u32 & ((1 << size) - 1), size);
                let mut last = 0;
                for i in 0..self.coefficients.kept_ac.len() {
                    let (k, slot) = self.coefficients.kept_ac[i];
                    let value = i32::from(self.coefficients.values[base + slot]);
                    if value == 0 {
                        continue;
                    }
                    let mut run = k - last - 1;
                    while run >= 16 {
                        self.put(u32::from(self.ac_code[0xF0]), 8);
                        run -= 16;
                    }
                    let size = 32 - value.unsigned_abs().leading_zeros();
                    if size > 10 {
                        return Err(out_of_range());
                    }
                    self.put(u32::from(self.ac_code[run << 4 | size as usize]), 8);
                    self.put((if value < 0 { value - 1 } else { value }) as u32 & ((1 << size) - 1), size);
                    last = k;
                }
                if last < 63 {
                    self.put(u32::from(self.ac_code[0x00]), 8);
                }
            }
        }
        if self.mcu == self.mcus && !self.finished {
            if self.count > 0 {
                let pad = 8 - self.count;
                self.put((1 << pad) - 1, pad);
            }
            self.stage.extend_from_slice(&[0xFF, 0xD9]);
            self.finished = true;
        }
        Ok(())
    }
}

impl Read for Baseline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read == self.stage.len() {
            if self.finished {
                return Ok(0);
            }
            self.write_stage()?;
        }
        let n = buf.len().min(self.stage.len() - self.read);
        buf[..n].copy_from_slice(&self.stage[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zigzag_order_is_the_standard_one() {
        assert_eq!(&ZIGZAG[..10], &[0, 1, 8, 16, 9, 2, 3, 10, 17, 24]);
        assert_eq!(&ZIGZAG[54..], &[39, 46, 53, 60, 61, 54, 47, 55, 62, 63]);
        let mut sorted = ZIGZAG;
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(i, &n)| usize::from(n) == i));
    }

    /// jpeg-decoder's pixels at 1/`denominator`, from `input` as it is.
    fn direct(input: &[u8], denominator: u16) -> (u16, u16, Vec<u8>) {
        let mut decoder = jpeg_decoder::Decoder::new(input);
        decoder.read_info().unwrap();
        let info = decoder.info().unwrap();
        decoder.scale(info.width.div_ceil(denominator), info.height.div_ceil(denominator)).unwrap();
        let pixels = decoder.decode().unwrap();
        let info = decoder.info().unwrap();
        (info.width, info.height, pixels)
    }

    /// The same through the kept coefficients and the baseline stream.
    fn reduced(input: &[u8], denominator: u16) -> (u16, u16, Vec<u8>) {
        let baseline = Baseline::new(input, u32::from(denominator)).unwrap();
        let mut decoder = jpeg_decoder::Decoder::new(baseline);
        decoder.read_info().unwrap();
        let info = decoder.info().unwrap();
        assert_eq!(info.coding_process, jpeg_decoder::CodingProcess::DctSequential);
        decoder.scale(info.width.div_ceil(denominator), info.height.div_ceil(denominator)).unwrap();
        let pixels = decoder.decode().unwrap();
        let info = decoder.info().unwrap();
        (info.width, info.height, pixels)
    }

    fn encoded(
        width: u16,
        height: u16,
        colour: jpeg_encoder::ColorType,
        sampling: jpeg_encoder::SamplingFactor,
        restart: u16,
    ) -> Vec<u8> {
        let channels = match colour {
            jpeg_encoder::ColorType::Luma => 1,
            jpeg_encoder::ColorType::Cmyk | jpeg_encoder::ColorType::CmykAsYcck => 4,
            _ => 3,
        };
        let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height) * channels)
            .map(|i| {
                let (p, c) = (i / channels, i % channels);
                let (x, y) = (p % usize::from(width), p / usize::from(width));
                ((x * 7 + y * 3 + c * 50) as f64 / 9.0).sin().mul_add(60.0, ((x ^ y) * 5 % 120) as f64) as u8
            })
            .collect();
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
        encoder.set_progressive(true);
        encoder.set_sampling_factor(sampling);
        encoder.set_restart_interval(restart);
        encoder.encode(&pixels, width, height, colour).unwrap();
        out
    }

    /// Every progressive variant the tests have: three encoders' scripts
    /// (spectral selection and successive approximation), grey, colour, CMYK
    /// and YCCK, 4:2:0, 4:2:2 and 4:4:4, restart intervals, sizes off the MCU grid.
    fn variants() -> Vec<(String, Vec<u8>)> {
        use jpeg_encoder::{ColorType, SamplingFactor};
        let mut variants: Vec<(String, Vec<u8>)> = [
            ("libjpeg-turbo", &include_bytes!("testdata/libjpeg-turbo-progressive.jpg")[..]),
            ("libjpeg-turbo grey", &include_bytes!("testdata/libjpeg-turbo-progressive-grey.jpg")[..]),
            ("libjpeg-turbo 4:2:2", &include_bytes!("testdata/libjpeg-turbo-progressive-422.jpg")[..]),
            ("libjpeg-turbo restarts", &include_bytes!("testdata/libjpeg-turbo-progressive-restart.jpg")[..]),
            ("mozjpeg", &include_bytes!("testdata/mozjpeg-progressive.jpg")[..]),
        ]
        .into_iter()
        .map(|(name, bytes)| (name.to_owned(), bytes.to_vec()))
        .collect();
        for (w, h) in [(64, 48), (75, 53), (9, 130), (1, 1)] {
            for (name, colour, sampling) in [
                ("grey", ColorType::Luma, SamplingFactor::R_4_4_4),
                ("4:2:0", ColorType::Rgb, SamplingFactor::R_4_2_0),
                ("4:4:4", ColorType::Rgb, SamplingFactor::R_4_4_4),
                // Four components and the Adobe marker, which decides the colour transform.
                ("CMYK", ColorType::Cmyk, SamplingFactor::R_4_4_4),
                ("YCCK", ColorType::CmykAsYcck, SamplingFactor::R_4_2_0),
            ] {
                for restart in [0, 2] {
                    variants.push((
                        format!("jpeg-encoder {name} {w}x{h} restart {restart}"),
                        encoded(w, h, colour, sampling, restart),
                    ));
                }
            }
        }
        variants
    }

    #[test]
    fn the_reduced_decode_gives_jpeg_decoder_s_pixels_at_every_scale() {
        for (name, jpeg) in variants() {
            for denominator in [2, 4, 8] {
                let (ours, theirs) = (reduced(&jpeg, denominator), direct(&jpeg, denominator));
                assert_eq!((ours.0, ours.1), (theirs.0, theirs.1), "{name} at 1/{denominator}");
                assert!(ours.2 == theirs.2, "{name} at 1/{denominator}: the pixels differ");
            }
        }
    }

    #[test]
    fn damaged_data_is_an_error_or_an_image_never_a_panic() {
        let jpeg = include_bytes!("testdata/libjpeg-turbo-progressive-restart.jpg");
        let mut seed = 0x2545_f491_u32;
        for round in 0..400 {
            let mut bytes = jpeg.to_vec();
            if round % 4 == 0 {
                bytes.truncate(seed as usize % bytes.len());
            }
            for _ in 0..1 + round % 5 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % bytes.len().max(1);
                if let Some(b) = bytes.get_mut(at) {
                    *b = (seed >> 24) as u8;
                }
            }
            if let Ok(baseline) = Baseline::new(&bytes, 4) {
                let _ = jpeg_decoder::Decoder::new(baseline).decode();
            }
        }
    }

    #[test]
    fn what_it_holds_is_a_fraction_of_every_coefficient() {
        // 33 MP at 4:2:0: 6.1 million blocks' worth of samples in 774,000 blocks.
        let blocks = 7008u64.div_ceil(16) * 4672u64.div_ceil(16) * 6;
        assert_eq!(held_bytes(blocks, 8) / blocks, 10);
        assert_eq!(held_bytes(blocks, 4) / blocks, 16);
        assert_eq!(held_bytes(blocks, 2) / blocks, 40);
        assert!(held_bytes(blocks, 4) < blocks * 128 / 7);
        let jpeg = encoded(64, 48, jpeg_encoder::ColorType::Rgb, jpeg_encoder::SamplingFactor::R_4_2_0, 0);
        let baseline = Baseline::new(&jpeg, 4).unwrap();
        let survey = crate::codecs::survey::jpeg(&jpeg);
        assert_eq!(baseline.coefficients.nonzero.len() as u64, survey.blocks);
        assert_eq!(baseline.coefficients.values.len() as u64, survey.blocks * 4);
    }
}

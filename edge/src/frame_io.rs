//! Still images from disk as grey frames: what `edge detect` and the replay tools read.
//!
//! Every format the workspace's `image` build decodes (PNG, JPEG, TIFF, BMP, PNM) is accepted;
//! colour becomes grey with OpenCV's luma weights ([`shared::preprocess::luma`]) so frames match
//! what OpenCV-based tools (and the golden face boxes) see. 8-bit palette TIFFs, which `image`
//! refuses and 23 of JAFFE's images are, are decoded here through their colour map
//! (uncompressed strips only; 16-bit map entries scaled `>> 8` as libtiff does, unless every
//! entry already fits in 8 bits).

use std::path::{Path, PathBuf};

use image::DynamicImage;
use shared::GrayImage;
use shared::preprocess::luma;

/// Largest image (in pixels) we agree to decode: guards against absurd headers.
pub const MAX_PIXELS: u64 = 100_000_000;

/// Why an image could not be loaded; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum FrameIoError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not an image we can decode.
    #[error("cannot decode {path}: {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Reads and decodes an image file to 8-bit grey.
pub fn load(path: &Path) -> Result<GrayImage, FrameIoError> {
    let bytes = std::fs::read(path).map_err(|source| FrameIoError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes).map_err(|reason| FrameIoError::Decode {
        path: path.to_path_buf(),
        reason,
    })
}

/// Decodes image bytes (any supported format, or a palette TIFF) to 8-bit grey.
pub fn decode(bytes: &[u8]) -> Result<GrayImage, String> {
    if let Some(palette) = palette_tiff::decode(bytes) {
        return palette;
    }
    let img = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?;
    to_gray(img)
}

/// Converts a decoded image to grey: grey stays as it is (16-bit is scaled to 8), colour goes
/// through OpenCV's luma weights, alpha is ignored.
pub fn to_gray(img: DynamicImage) -> Result<GrayImage, String> {
    let (w, h) = (img.width(), img.height());
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(format!("{w}x{h} exceeds the {MAX_PIXELS}-pixel limit"));
    }
    let gray = match img {
        DynamicImage::ImageLuma8(g) => GrayImage::from_raw(w, h, g.into_raw()),
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA16(_) => {
            GrayImage::from_raw(w, h, img.to_luma8().into_raw())
        }
        other => GrayImage::from_rgb(w, h, other.to_rgb8().as_raw()),
    };
    gray.map_err(|e| e.to_string())
}

/// The minimal TIFF reading needed for 8-bit colour-mapped images.
mod palette_tiff {
    use super::*;

    const IMAGE_WIDTH: u16 = 256;
    const IMAGE_LENGTH: u16 = 257;
    const BITS_PER_SAMPLE: u16 = 258;
    const COMPRESSION: u16 = 259;
    const PHOTOMETRIC: u16 = 262;
    const STRIP_OFFSETS: u16 = 273;
    const SAMPLES_PER_PIXEL: u16 = 277;
    const STRIP_BYTE_COUNTS: u16 = 279;
    const COLOR_MAP: u16 = 320;
    const PHOTOMETRIC_PALETTE: u32 = 3;

    struct Reader<'a> {
        data: &'a [u8],
        little: bool,
    }

    impl Reader<'_> {
        fn bytes<const N: usize>(&self, at: usize) -> Result<[u8; N], String> {
            self.data
                .get(at..at.checked_add(N).ok_or("offset overflow")?)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("TIFF offset {at} is past the end of the file"))
        }
        fn u16(&self, at: usize) -> Result<u16, String> {
            let b = self.bytes::<2>(at)?;
            Ok(if self.little {
                u16::from_le_bytes(b)
            } else {
                u16::from_be_bytes(b)
            })
        }
        fn u32(&self, at: usize) -> Result<u32, String> {
            let b = self.bytes::<4>(at)?;
            Ok(if self.little {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            })
        }
    }

    /// One directory entry: its type, count and where the values start.
    struct Entry {
        tag: u16,
        kind: u16,
        count: usize,
        at: usize,
    }

    impl Entry {
        fn values(&self, r: &Reader<'_>) -> Result<Vec<u32>, String> {
            if self.count > 1 << 20 {
                return Err(format!("TIFF tag {} has {} values", self.tag, self.count));
            }
            (0..self.count)
                .map(|i| match self.kind {
                    1 => r.bytes::<1>(self.at + i).map(|b| b[0] as u32),
                    3 => r.u16(self.at + 2 * i).map(u32::from),
                    4 => r.u32(self.at + 4 * i),
                    k => Err(format!("TIFF tag {} has unsupported type {k}", self.tag)),
                })
                .collect()
        }
    }

    /// `None` when the bytes are not a palette TIFF (let `image` try them); otherwise the
    /// decoded grey image or why it could not be decoded.
    pub(super) fn decode(data: &[u8]) -> Option<Result<GrayImage, String>> {
        let little = match data.get(..4)? {
            [b'I', b'I', 42, 0] => true,
            [b'M', b'M', 0, 42] => false,
            _ => return None,
        };
        let r = Reader { data, little };
        let entries = entries(&r).ok()?;
        let photometric = entries.iter().find(|e| e.tag == PHOTOMETRIC)?.values(&r).ok()?;
        if photometric.first() != Some(&PHOTOMETRIC_PALETTE) {
            return None;
        }
        Some(decode_palette(&r, &entries))
    }

    fn entries(r: &Reader<'_>) -> Result<Vec<Entry>, String> {
        let ifd = r.u32(4)? as usize;
        let n = r.u16(ifd)? as usize;
        (0..n)
            .map(|i| {
                let at = ifd + 2 + 12 * i;
                let (tag, kind, count) = (r.u16(at)?, r.u16(at + 2)?, r.u32(at + 4)? as usize);
                let unit = match kind {
                    1 | 2 | 6 | 7 => 1,
                    3 | 8 => 2,
                    4 | 9 | 11 => 4,
                    _ => 8,
                };
                let size = unit * count;
                let at = if size <= 4 { at + 8 } else { r.u32(at + 8)? as usize };
                Ok(Entry { tag, kind, count, at })
            })
            .collect()
    }

    fn decode_palette(r: &Reader<'_>, entries: &[Entry]) -> Result<GrayImage, String> {
        let get = |tag: u16| -> Result<Option<Vec<u32>>, String> {
            entries.iter().find(|e| e.tag == tag).map(|e| e.values(r)).transpose()
        };
        let one = |tag: u16, name: &str| -> Result<u32, String> {
            get(tag)?
                .and_then(|v| v.first().copied())
                .ok_or_else(|| format!("palette TIFF lacks {name}"))
        };
        let (w, h) = (one(IMAGE_WIDTH, "ImageWidth")?, one(IMAGE_LENGTH, "ImageLength")?);
        if w == 0 || h == 0 || w as u64 * h as u64 > MAX_PIXELS {
            return Err(format!("palette TIFF has unusable size {w}x{h}"));
        }
        let bits = get(BITS_PER_SAMPLE)?.and_then(|v| v.first().copied()).unwrap_or(1);
        let samples = get(SAMPLES_PER_PIXEL)?.and_then(|v| v.first().copied()).unwrap_or(1);
        let compression = get(COMPRESSION)?.and_then(|v| v.first().copied()).unwrap_or(1);
        if bits != 8 || samples != 1 || compression != 1 {
            return Err(format!(
                "palette TIFF with {bits} bits, {samples} samples, compression {compression} \
                 (only uncompressed 8-bit single-sample palettes are supported)"
            ));
        }
        let map = get(COLOR_MAP)?.ok_or("palette TIFF lacks its ColorMap")?;
        if map.len() != 3 * 256 {
            return Err(format!(
                "palette TIFF colour map has {} entries, expected 768",
                map.len()
            ));
        }
        let shift = if map.iter().all(|&v| v <= 255) { 0 } else { 8 };
        let lut: Vec<u8> = (0..256)
            .map(|i| {
                luma(
                    (map[i] >> shift) as u8,
                    (map[256 + i] >> shift) as u8,
                    (map[512 + i] >> shift) as u8,
                )
            })
            .collect();
        let offsets = get(STRIP_OFFSETS)?.ok_or("palette TIFF lacks StripOffsets")?;
        let counts = get(STRIP_BYTE_COUNTS)?.ok_or("palette TIFF lacks StripByteCounts")?;
        if offsets.len() != counts.len() {
            return Err("palette TIFF strip offsets and byte counts differ in number".into());
        }
        let total = w as usize * h as usize;
        let mut pixels = Vec::with_capacity(total);
        for (&off, &count) in offsets.iter().zip(&counts) {
            let (off, count) = (off as usize, count as usize);
            let strip = r
                .data
                .get(off..off.saturating_add(count))
                .ok_or("palette TIFF strip runs past the end of the file")?;
            let take = strip.len().min(total - pixels.len());
            pixels.extend(strip[..take].iter().map(|&i| lut[i as usize]));
        }
        if pixels.len() != total {
            return Err(format!(
                "palette TIFF strips hold {} pixels, expected {w}x{h}",
                pixels.len()
            ));
        }
        GrayImage::from_raw(w, h, pixels).map_err(|e| e.to_string())
    }

    #[cfg(test)]
    pub(crate) fn encode(w: u32, h: u32, indices: &[u8], map: &[u16; 768]) -> Vec<u8> {
        // Little-endian TIFF: header, pixel strip, colour map, then the directory.
        let mut out = b"II*\0".to_vec();
        out.extend(0u32.to_le_bytes());
        let strip_at = out.len() as u32;
        out.extend_from_slice(indices);
        let map_at = out.len() as u32;
        for v in map {
            out.extend(v.to_le_bytes());
        }
        let ifd = out.len() as u32;
        out[4..8].copy_from_slice(&ifd.to_le_bytes());
        let tags: [(u16, u16, u32, u32); 8] = [
            (IMAGE_WIDTH, 4, 1, w),
            (IMAGE_LENGTH, 4, 1, h),
            (BITS_PER_SAMPLE, 3, 1, 8),
            (COMPRESSION, 3, 1, 1),
            (PHOTOMETRIC, 3, 1, 3),
            (STRIP_OFFSETS, 4, 1, strip_at),
            (STRIP_BYTE_COUNTS, 4, 1, indices.len() as u32),
            (COLOR_MAP, 3, 768, map_at),
        ];
        out.extend((tags.len() as u16).to_le_bytes());
        for (tag, kind, count, value) in tags {
            out.extend(tag.to_le_bytes());
            out.extend(kind.to_le_bytes());
            out.extend(count.to_le_bytes());
            out.extend(value.to_le_bytes());
        }
        out.extend(0u32.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_grey_and_colour_become_luma() {
        let dir = tempfile::tempdir().unwrap();
        let grey = dir.path().join("g.png");
        image::GrayImage::from_raw(2, 1, vec![7, 200])
            .unwrap()
            .save(&grey)
            .unwrap();
        assert_eq!(load(&grey).unwrap().pixels(), &[7, 200]);
        let rgb = dir.path().join("c.png");
        image::RgbImage::from_raw(2, 1, vec![255, 0, 0, 0, 0, 255])
            .unwrap()
            .save(&rgb)
            .unwrap();
        assert_eq!(load(&rgb).unwrap().pixels(), &[luma(255, 0, 0), luma(0, 0, 255)]);
    }

    #[test]
    fn palette_tiff_goes_through_its_colour_map() {
        let mut map = [0u16; 768];
        // Index 1 is pure red, index 2 pure blue, both as 16-bit entries.
        map[1] = 0xffff;
        map[512 + 2] = 0xff00;
        let bytes = palette_tiff::encode(3, 1, &[0, 1, 2], &map);
        let img = decode(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (3, 1));
        assert_eq!(img.pixels(), &[0, luma(255, 0, 0), luma(0, 0, 255)]);
        // Truncated strip data is an error, not a panic.
        let short = palette_tiff::encode(3, 2, &[0, 1, 2], &map);
        assert!(decode(&short).unwrap_err().contains("expected 3x2"));
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.png");
        let e = load(&missing).unwrap_err().to_string();
        assert!(e.contains("nope.png"), "{e}");
        let junk = dir.path().join("junk.tiff");
        std::fs::write(&junk, b"II*\0garbage").unwrap();
        let e = load(&junk).unwrap_err();
        assert!(
            matches!(e, FrameIoError::Decode { .. }) && e.to_string().contains("junk.tiff"),
            "{e}"
        );
    }
}

//! A small decoder for 8-bit palette (colour-mapped) TIFFs, which the `image` crate refuses.
//!
//! One decoder for the host (reading JAFFE for training) and the edge (replaying JAFFE frames,
//! `edge classify` on them), so both see the same pixels; pure byte parsing, `no_std`.
//! 23 of JAFFE's 213 images are stored this way. They are decoded here to RGB through their
//! colour map (16-bit entries scaled to 8 bits as libtiff does, `>> 8`, unless every entry
//! already fits in 8 bits) and then to grey with the shared OpenCV luma weights, so they match
//! what OpenCV-based tools read. Only what such files use is supported: uncompressed strips,
//! one sample of 8 bits per pixel, either byte order.

use alloc::vec::Vec;

use crate::GrayImage;
use crate::image::{ImageError, luma};

/// Why a palette TIFF could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaletteTiffError {
    /// The bytes do not start with a TIFF header.
    #[error("not a TIFF file")]
    NotTiff,
    /// A TIFF whose first image is not palette-coloured.
    #[error("not a palette TIFF")]
    NotPalette,
    /// An offset or count in the file points past its end.
    #[error("offset past the end")]
    PastEnd,
    /// A field of a type this decoder does not read.
    #[error("unsupported field type {0}")]
    FieldType(u16),
    /// A field with no values.
    #[error("empty field")]
    EmptyField,
    /// A tag the image needs is missing.
    #[error("palette TIFF without {0}")]
    MissingTag(&'static str),
    /// A sample layout or compression other than uncompressed 8-bit, one sample.
    #[error("palette TIFF with {bits} bits, {samples} samples, compression {compression}: unsupported")]
    Unsupported {
        /// BitsPerSample.
        bits: u32,
        /// SamplesPerPixel.
        samples: u32,
        /// Compression.
        compression: u32,
    },
    /// A colour map without 3 x 256 entries.
    #[error("ColorMap has {0} entries, expected 768")]
    ColorMapLength(usize),
    /// StripOffsets and StripByteCounts list different numbers of strips.
    #[error("StripOffsets and StripByteCounts differ in length")]
    StripTables,
    /// An image with more pixels than the file has bytes.
    #[error("a {width}x{height} image cannot fit in a {file_len}-byte file")]
    LargerThanFile {
        /// ImageWidth.
        width: u32,
        /// ImageLength.
        height: u32,
        /// The file's length in bytes.
        file_len: usize,
    },
    /// Strips that add up to more bytes than the image has pixels.
    #[error("strips hold {stored} bytes for a {width}x{height} image")]
    StripsTooLarge {
        /// The sum of StripByteCounts.
        stored: u64,
        /// ImageWidth.
        width: u32,
        /// ImageLength.
        height: u32,
    },
    /// A strip that ends past the end of the file.
    #[error("strip past the end of the file")]
    StripPastEnd,
    /// Strips with fewer pixels than the image.
    #[error("strips hold {found} pixels, expected {expected}")]
    TooFewPixels {
        /// Pixels the strips hold.
        found: usize,
        /// `width * height`.
        expected: usize,
    },
    /// The decoded pixels do not make an image.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// Little reader over the file bytes in the file's byte order.
struct Bytes<'a> {
    data: &'a [u8],
    little: bool,
}

/// `len` bytes of `data` from `at`; `None` past the end. Offsets come from the file, so the
/// end is computed without overflow (a forged offset near `usize::MAX` on a 32-bit board).
fn slice(data: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    data.get(at..at.checked_add(len)?)
}

impl Bytes<'_> {
    fn array<const N: usize>(&self, at: usize) -> Result<[u8; N], PaletteTiffError> {
        slice(self.data, at, N)
            .and_then(|b| b.try_into().ok())
            .ok_or(PaletteTiffError::PastEnd)
    }

    fn u16(&self, at: usize) -> Result<u16, PaletteTiffError> {
        let b = self.array(at)?;
        Ok(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Result<u32, PaletteTiffError> {
        let b = self.array(at)?;
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
}

/// One IFD entry: type, count, and where its values are.
#[derive(Clone, Copy)]
struct Field {
    kind: u16,
    count: usize,
    at: usize,
}

impl Field {
    fn values(&self, b: &Bytes<'_>) -> Result<Vec<u32>, PaletteTiffError> {
        (0..self.count)
            .map(|i| match self.kind {
                // Saturating: `at` and `count` come from the file (see `slice`).
                3 => b.u16(self.at.saturating_add(i.saturating_mul(2))).map(u32::from),
                4 => b.u32(self.at.saturating_add(i.saturating_mul(4))),
                1 => b
                    .data
                    .get(self.at.saturating_add(i))
                    .map(|&v| v as u32)
                    .ok_or(PaletteTiffError::PastEnd),
                k => Err(PaletteTiffError::FieldType(k)),
            })
            .collect()
    }

    fn first(&self, b: &Bytes<'_>) -> Result<u32, PaletteTiffError> {
        self.values(b)?.first().copied().ok_or(PaletteTiffError::EmptyField)
    }
}

/// True when the bytes start like a TIFF whose first image is palette-coloured.
pub fn is_palette_tiff(data: &[u8]) -> bool {
    decode_fields(data).is_ok_and(|(b, fields)| fields.iter().any(|&(tag, f)| tag == 262 && f.first(&b) == Ok(3)))
}

fn decode_fields(data: &[u8]) -> Result<(Bytes<'_>, Vec<(u16, Field)>), PaletteTiffError> {
    let little = match data.get(..4) {
        Some([b'I', b'I', 42, 0]) => true,
        Some([b'M', b'M', 0, 42]) => false,
        _ => return Err(PaletteTiffError::NotTiff),
    };
    let b = Bytes { data, little };
    let ifd = b.u32(4)? as usize;
    let n = b.u16(ifd)? as usize;
    let mut fields = Vec::with_capacity(n);
    for i in 0..n {
        let at = ifd.saturating_add(2 + 12 * i);
        let (tag, kind, count) = (b.u16(at)?, b.u16(at + 2)?, b.u32(at + 4)? as usize);
        let size = match kind {
            1 | 2 | 6 | 7 => 1usize,
            3 | 8 => 2,
            4 | 9 | 11 => 4,
            _ => 8,
        }
        .saturating_mul(count);
        let value_at = if size <= 4 { at + 8 } else { b.u32(at + 8)? as usize };
        fields.push((
            tag,
            Field {
                kind,
                count,
                at: value_at,
            },
        ));
    }
    Ok((b, fields))
}

/// Decodes an 8-bit palette TIFF to grey (OpenCV luma of the mapped colours).
pub fn decode_palette_tiff(data: &[u8]) -> Result<GrayImage, PaletteTiffError> {
    let (b, fields) = decode_fields(data)?;
    let get = |tag: u16| fields.iter().find(|(t, _)| *t == tag).map(|(_, f)| *f);
    let need = |tag: u16, name: &'static str| get(tag).ok_or(PaletteTiffError::MissingTag(name));
    let width = need(256, "ImageWidth")?.first(&b)?;
    let height = need(257, "ImageLength")?.first(&b)?;
    if need(262, "PhotometricInterpretation")?.first(&b)? != 3 {
        return Err(PaletteTiffError::NotPalette);
    }
    let bits = get(258).map(|f| f.first(&b)).transpose()?.unwrap_or(1);
    let samples = get(277).map(|f| f.first(&b)).transpose()?.unwrap_or(1);
    let compression = get(259).map(|f| f.first(&b)).transpose()?.unwrap_or(1);
    if bits != 8 || samples != 1 || compression != 1 {
        return Err(PaletteTiffError::Unsupported {
            bits,
            samples,
            compression,
        });
    }
    let map = need(320, "ColorMap")?.values(&b)?;
    if map.len() != 3 * 256 {
        return Err(PaletteTiffError::ColorMapLength(map.len()));
    }
    // libtiff's rule: a map whose entries all fit in 8 bits is already 8-bit.
    let shift = if map.iter().all(|&v| v < 256) { 0 } else { 8 };
    let channel = |i: usize| (map[i] >> shift) as u8;
    let lut: Vec<u8> = (0..256)
        .map(|i| luma(channel(i), channel(256 + i), channel(512 + i)))
        .collect();

    let offsets = need(273, "StripOffsets")?.values(&b)?;
    let counts = need(279, "StripByteCounts")?.values(&b)?;
    if offsets.len() != counts.len() {
        return Err(PaletteTiffError::StripTables);
    }
    // Uncompressed 8-bit: one file byte per pixel, so an image larger than the file is forged,
    // and so are strips that add up to more bytes than the image (one byte range listed many
    // times would otherwise grow the pixels without bound). Sizes are checked in u64 so that
    // 32-bit boards see the same errors.
    let total = u64::from(width) * u64::from(height);
    if total > data.len() as u64 {
        return Err(PaletteTiffError::LargerThanFile {
            width,
            height,
            file_len: data.len(),
        });
    }
    let stored: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if stored > total {
        return Err(PaletteTiffError::StripsTooLarge { stored, width, height });
    }
    let total = total as usize;
    let mut pixels = Vec::with_capacity(total);
    for (&offset, &count) in offsets.iter().zip(&counts) {
        let strip = slice(data, offset as usize, count as usize).ok_or(PaletteTiffError::StripPastEnd)?;
        pixels.extend(strip.iter().map(|&i| lut[i as usize]));
    }
    if pixels.len() < total {
        return Err(PaletteTiffError::TooFewPixels {
            found: pixels.len(),
            expected: total,
        });
    }
    Ok(GrayImage::from_raw(width, height, pixels)?)
}

#[cfg(test)]
mod tests;

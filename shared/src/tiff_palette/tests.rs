use alloc::string::ToString;
use alloc::vec;

use super::*;

/// A little-endian 4x2 palette TIFF in two strips; palette entry i = (i, 255 - i, 0) x 257.
fn palette_tiff(strip_cut: usize) -> Vec<u8> {
    let (w, h) = (4u32, 2u32);
    let pixels: Vec<u8> = vec![0, 1, 2, 255, 10, 20, 30, 40];
    let entries: [(u16, u16, u32, u32); 9] = [
        (256, 3, 1, w),
        (257, 3, 1, h),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 3),
        (273, 4, 2, 0), // patched below
        (277, 3, 1, 1),
        (279, 4, 2, 0), // patched below
        (320, 3, 768, 0),
    ];
    let ifd = 8usize;
    let ifd_len = 2 + 12 * entries.len() + 4;
    let offsets_at = ifd + ifd_len;
    let counts_at = offsets_at + 8;
    let map_at = counts_at + 8;
    let data_at = map_at + 768 * 2;
    let mut out = b"II*\0".to_vec();
    out.extend((ifd as u32).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(count.to_le_bytes());
        let value = match tag {
            273 => offsets_at as u32,
            279 => counts_at as u32,
            320 => map_at as u32,
            _ => value,
        };
        if kind == 3 && count == 1 {
            out.extend((value as u16).to_le_bytes());
            out.extend([0, 0]);
        } else {
            out.extend(value.to_le_bytes());
        }
    }
    out.extend(0u32.to_le_bytes());
    out.extend((data_at as u32).to_le_bytes());
    out.extend((data_at as u32 + 4).to_le_bytes());
    out.extend(4u32.to_le_bytes());
    out.extend(4u32.to_le_bytes());
    for channel in 0..3 {
        for i in 0..256u32 {
            let v = match channel {
                0 => i,
                1 => 255 - i,
                _ => 0,
            };
            out.extend(((v * 257) as u16).to_le_bytes());
        }
    }
    out.extend(&pixels);
    out.truncate(out.len() - strip_cut);
    out
}

#[test]
fn decodes_through_the_colour_map_to_luma() {
    let data = palette_tiff(0);
    assert!(is_palette_tiff(&data));
    let g = decode_palette_tiff(&data).unwrap();
    assert_eq!((g.width(), g.height()), (4, 2));
    let expect: Vec<u8> = [0u8, 1, 2, 255, 10, 20, 30, 40]
        .iter()
        .map(|&i| luma(i, 255 - i, 0))
        .collect();
    assert_eq!(g.pixels(), expect.as_slice());
}

#[test]
fn damaged_files_are_errors_not_panics() {
    assert!(decode_palette_tiff(&palette_tiff(3)).is_err());
    let data = palette_tiff(0);
    for cut in [0, 4, 8, 30, 120, 300] {
        assert!(decode_palette_tiff(&data[..cut]).is_err(), "cut at {cut}");
    }
    assert!(!is_palette_tiff(b"\x89PNG\r\n"));
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Where IFD entry `tag` of a [`palette_tiff`] starts.
fn entry_at(data: &[u8], tag: u16) -> usize {
    let entries = u16::from_le_bytes([data[8], data[9]]) as usize;
    (0..entries)
        .map(|e| 10 + 12 * e)
        .find(|&at| u16::from_le_bytes([data[at], data[at + 1]]) == tag)
        .expect("the tag is in the IFD")
}

/// Rewrites IFD entry `tag` of a [`palette_tiff`] as `count` LONGs at or holding `value`.
fn set_long_entry(data: &mut [u8], tag: u16, count: u32, value: u32) {
    let at = entry_at(data, tag);
    data[at + 2..at + 4].copy_from_slice(&4u16.to_le_bytes()); // LONG
    data[at + 4..at + 8].copy_from_slice(&count.to_le_bytes());
    data[at + 8..at + 12].copy_from_slice(&value.to_le_bytes());
}

/// A [`palette_tiff`] whose strip table (tags 273 and 279) lists `strips` strips, all the
/// first strip's 4 bytes.
fn repeated_strips(strips: u32) -> Vec<u8> {
    let mut data = palette_tiff(0);
    let offsets_at = u32_at(&data, entry_at(&data, 273) + 8);
    let first_strip = u32_at(&data, offsets_at as usize);
    let table = data.len() as u32;
    data.extend(core::iter::repeat_n(first_strip.to_le_bytes(), strips as usize).flatten());
    data.extend(core::iter::repeat_n(4u32.to_le_bytes(), strips as usize).flatten());
    set_long_entry(&mut data, 273, strips, table);
    set_long_entry(&mut data, 279, strips, table + 4 * strips);
    data
}

#[test]
fn strips_that_add_up_to_more_than_the_image_are_refused() {
    // Two strips of the first row's 4 bytes fill the 4x2 image.
    let g = decode_palette_tiff(&repeated_strips(2)).unwrap();
    assert_eq!(&g.pixels()[..4], &g.pixels()[4..]);
    let err = decode_palette_tiff(&repeated_strips(50_000)).unwrap_err();
    assert_eq!(
        err,
        PaletteTiffError::StripsTooLarge {
            stored: 200_000,
            width: 4,
            height: 2
        }
    );
    assert_eq!(err.to_string(), "strips hold 200000 bytes for a 4x2 image");
}

#[test]
fn an_image_larger_than_its_file_is_refused() {
    let mut data = palette_tiff(0);
    set_long_entry(&mut data, 256, 1, u32::MAX);
    let err = decode_palette_tiff(&data).unwrap_err();
    assert!(matches!(err, PaletteTiffError::LargerThanFile { .. }), "{err}");
    assert!(err.to_string().starts_with("a 4294967295x2 image cannot fit"), "{err}");
}

//! PNG plots of a run: validation loss and learning rate per epoch (the paper's Fig. 3),
//! training / validation accuracy, and the confusion-matrix heat map; of an exported model:
//! the reliability diagram and each alert's hits and false alarms against its threshold.
//!
//! Why these choices: plotters draws into an RGB buffer (no system libraries) and text is
//! rasterised with `ab_glyph` from a font compiled into the binary (Hack, via
//! `epaint_default_fonts`), so plots render the same on a headless machine with no fonts
//! installed. The buffer is encoded to PNG with the `image` crate the workspace already uses.

use std::path::Path;
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use shared::{Emotion, NUM_CLASSES};

use crate::eval::alerts::SweepPoint;
use crate::eval::metrics::ConfusionMatrix;
use crate::train::EpochMetrics;
use crate::train::average::AverageMetrics;

/// Font family name the plots use (registered on first use).
const FONT: &str = "sans-serif";

/// What plotters reports when drawing into the bitmap fails.
type DrawError = DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

/// Plot failures.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// plotters failed to draw.
    #[error("drawing {path}: {source}")]
    Draw {
        /// Output file.
        path: String,
        /// plotters' error.
        source: DrawError,
    },
    /// The PNG could not be written.
    #[error("writing {path}: {why}")]
    Write {
        /// Output file.
        path: String,
        /// The cause.
        why: String,
    },
    /// Nothing to plot.
    #[error("no epochs to plot")]
    Empty,
}

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if register_font(FONT, style, epaint_default_fonts::HACK_REGULAR).is_err() {
                tracing::warn!("bundled font could not be registered; plots will lack text");
            }
        }
    });
}

/// Draws with `draw` into a `width x height` RGB buffer and writes it as PNG.
fn render(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), DrawError>,
) -> Result<(), PlotError> {
    register_fonts();
    let shown = path.display().to_string();
    let mut buffer = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        let failed = |source| PlotError::Draw {
            path: shown.clone(),
            source,
        };
        root.fill(&WHITE).map_err(failed)?;
        draw(&root).map_err(failed)?;
        root.present().map_err(failed)?;
    }
    let image = image::RgbImage::from_raw(width, height, buffer).ok_or_else(|| PlotError::Write {
        path: shown.clone(),
        why: "buffer size".into(),
    })?;
    image.save(path).map_err(|e| PlotError::Write {
        path: shown,
        why: e.to_string(),
    })
}

/// A chart with both axes in f64, as every line plot here has.
type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A line with a dot at each point, named `name` in the legend.
fn marked_line(
    chart: &mut Chart<'_, '_>,
    name: &str,
    color: RGBColor,
    points: &[(f64, f64)],
    dot: i32,
) -> Result<(), DrawError> {
    chart
        .draw_series(LineSeries::new(points.to_vec(), color.stroke_width(3)))?
        .label(name)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3)));
    chart.draw_series(points.iter().map(|&p| Circle::new(p, dot, color.filled())))?;
    Ok(())
}

/// The legend box, in the same style on every plot.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, position: SeriesLabelPosition) -> Result<(), DrawError> {
    chart
        .configure_series_labels()
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .draw()
}

/// Epoch axis labels: whole epochs only.
fn epoch_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-9);
    (lo - pad, hi + pad)
}

/// Validation (and training) loss on the left axis, learning rate on the right, per epoch.
pub fn loss_and_lr(path: &Path, history: &[EpochMetrics], title: &str) -> Result<(), PlotError> {
    if history.is_empty() {
        return Err(PlotError::Empty);
    }
    let last = history.last().map_or(1, |m| m.epoch) as f64;
    let first = history.first().map_or(1, |m| m.epoch) as f64;
    let x = (first - 0.5)..(last + 0.5);
    let (lo, hi) = range(history.iter().flat_map(|m| [m.val_loss, m.train_loss]));
    let lr_hi = history.iter().map(|m| m.lr).fold(0.0, f64::max).max(1e-12) * 1.1;
    render(path, (900, 560), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 24))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .right_y_label_area_size(72)
            .build_cartesian_2d(x.clone(), lo.max(0.0)..hi)?
            .set_secondary_coord(x, 0.0..lr_hi);
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&epoch_label)
            .y_desc("loss")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc("learning rate")
            .y_label_formatter(&|v| format!("{v:.1e}"))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        let val: Vec<(f64, f64)> = history.iter().map(|m| (m.epoch as f64, m.val_loss)).collect();
        let train: Vec<(f64, f64)> = history.iter().map(|m| (m.epoch as f64, m.train_loss)).collect();
        let lr: Vec<(f64, f64)> = history.iter().map(|m| (m.epoch as f64, m.lr)).collect();
        chart
            .draw_series(LineSeries::new(val.clone(), RED.stroke_width(3)))?
            .label("validation loss")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], RED.stroke_width(3)));
        chart.draw_series(val.iter().map(|&p| Circle::new(p, 3, RED.filled())))?;
        chart
            .draw_series(LineSeries::new(train, RGBColor(120, 120, 120).stroke_width(2)))?
            .label("training loss")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], RGBColor(120, 120, 120).stroke_width(2)));
        chart
            .draw_secondary_series(LineSeries::new(lr, BLUE.stroke_width(2)))?
            .label("learning rate (right axis)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        Ok(())
    })
}

/// Training and validation accuracy (%) per epoch, and the weight average's validation
/// accuracy where the run kept one (`--average-from`). The axis fits the values (within 0-100),
/// so that a short fine-tuning run's tenths of a point are visible.
pub fn accuracy(
    path: &Path,
    history: &[EpochMetrics],
    average: &[AverageMetrics],
    title: &str,
) -> Result<(), PlotError> {
    let mut series: Vec<Series<'_>> = vec![
        (
            "training accuracy",
            RGBColor(120, 120, 120),
            history.iter().map(|m| (m.epoch as f64, 100.0 * m.train_acc)).collect(),
        ),
        (
            "validation accuracy",
            RED,
            history.iter().map(|m| (m.epoch as f64, 100.0 * m.val_acc)).collect(),
        ),
    ];
    if !average.is_empty() {
        series.push((
            "weight average, validation",
            BLUE,
            average.iter().map(|m| (m.epoch as f64, 100.0 * m.val_acc)).collect(),
        ));
    }
    let axis = EpochAxis {
        y_desc: "accuracy (%)",
        y_bounds: Some(0.0..100.0),
        // Training accuracy runs above validation, and both rise to the right: the middle of
        // the right edge lies between them late in a run.
        legend: SeriesLabelPosition::MiddleRight,
    };
    epoch_plot(path, title, axis, &series)
}

/// Named series over epochs on one axis (`y_desc`, fitted to the values), each a line with
/// dots in its colour.
pub fn epoch_lines(path: &Path, title: &str, y_desc: &str, series: &[Series<'_>]) -> Result<(), PlotError> {
    let axis = EpochAxis {
        y_desc,
        y_bounds: None,
        legend: SeriesLabelPosition::UpperRight,
    };
    epoch_plot(path, title, axis, series)
}

/// A named line in its colour: `(epoch, value)` points.
pub type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// The y axis and legend of a per-epoch plot.
struct EpochAxis<'a> {
    y_desc: &'a str,
    /// The axis fits the values; where given, it stays within these bounds.
    y_bounds: Option<std::ops::Range<f64>>,
    legend: SeriesLabelPosition,
}

fn epoch_plot(path: &Path, title: &str, axis: EpochAxis<'_>, series: &[Series<'_>]) -> Result<(), PlotError> {
    let points = || series.iter().flat_map(|(_, _, p)| p.iter());
    if points().next().is_none() {
        return Err(PlotError::Empty);
    }
    let (first, last) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (lo, hi) = range(points().map(|p| p.1));
    let y = match &axis.y_bounds {
        Some(bounds) => lo.max(bounds.start)..hi.min(bounds.end),
        None => lo..hi,
    };
    render(path, (900, 560), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 24))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((first - 0.5)..(last + 0.5), y)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&epoch_label)
            .y_desc(axis.y_desc)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        for (name, color, points) in series {
            marked_line(&mut chart, name, *color, points, 3)?;
        }
        legend(&mut chart, axis.legend)
    })
}

/// Row-normalised confusion matrix as a heat map with percentages in the cells; rows are the
/// true class, columns the prediction, in the paper's label order. Absent classes are grey.
pub fn confusion(path: &Path, matrix: &ConfusionMatrix, title: &str) -> Result<(), PlotError> {
    let rows = matrix.row_normalised();
    let totals = matrix.row_totals();
    let (width, height) = (820u32, 760u32);
    render(path, (width, height), |root| {
        let (left, top, cell) = (150i32, 70i32, 88i32);
        root.draw(&Text::new(title.to_string(), (20, 16), (FONT, 22).into_font()))?;
        root.draw(&Text::new(
            "predicted",
            (left + cell * 3, top - 26),
            (FONT, 16).into_font(),
        ))?;
        for (i, emotion) in Emotion::ALL.iter().enumerate() {
            let y = top + cell * i as i32;
            let label = format!("{} ({})", emotion.name(), totals[i]);
            root.draw(&Text::new(label, (8, y + cell / 2 - 8), (FONT, 14).into_font()))?;
            let x = left + cell * i as i32;
            root.draw(&Text::new(
                emotion.name().to_string(),
                (x + 6, top + cell * NUM_CLASSES as i32 + 8),
                (FONT, 14).into_font(),
            ))?;
            for j in 0..NUM_CLASSES {
                let x = left + cell * j as i32;
                let (fill, text) = match rows[i] {
                    Some(row) => {
                        let v = row[j];
                        let shade = (255.0 * (1.0 - v)).round() as u8;
                        (RGBColor(shade, shade, 255), Some(format!("{:.1}", 100.0 * v)))
                    }
                    None => (RGBColor(225, 225, 225), None),
                };
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], fill.filled()))?;
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1)))?;
                if let Some(text) = text {
                    let dark = rows[i].is_some_and(|r| r[j] > 0.55);
                    let color = if dark { WHITE } else { BLACK };
                    let style = TextStyle::from((FONT, 18).into_font()).color(&color);
                    root.draw(&Text::new(text, (x + 18, y + cell / 2 - 9), style))?;
                }
            }
        }
        root.draw(&Text::new(
            "rows: true class (images), row-normalised %",
            (left, top + cell * NUM_CLASSES as i32 + 36),
            (FONT, 14).into_font(),
        ))?;
        Ok(())
    })
}

/// Reliability diagram: per confidence bin, the accuracy of the images in it before and after
/// temperature scaling, against the diagonal of perfect calibration. Bins with no image are
/// left out.
pub fn reliability(
    path: &Path,
    before: &[crate::eval::calibration::Bin],
    after: &[crate::eval::calibration::Bin],
    title: &str,
) -> Result<(), PlotError> {
    if before.is_empty() && after.is_empty() {
        return Err(PlotError::Empty);
    }
    render(path, (760, 700), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("confidence (top score)")
            .y_desc("accuracy")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                BLACK.mix(0.5).stroke_width(1),
            ))?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLACK.mix(0.5).stroke_width(1)));
        for (name, color, bins) in [
            ("before (t = 1)", RGBColor(200, 60, 40), before),
            ("after temperature", RGBColor(30, 90, 200), after),
        ] {
            let points: Vec<(f64, f64)> = bins
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| (b.confidence, b.accuracy))
                .collect();
            marked_line(&mut chart, name, color, &points, 4)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// One panel of [`alert_thresholds`]: an alert's name, its configured raise threshold and its
/// sweep ([`crate::eval::alerts::sweep`]).
pub type AlertSweep<'a> = (&'a str, f32, Vec<SweepPoint>);

/// One panel per emotion alert: the percent of held faces that raise it, of the classes it
/// watches (hits) and of the others (false alarms), against its raise threshold; a grey line
/// marks the threshold in use.
pub fn alert_thresholds(path: &Path, title: &str, panels: &[AlertSweep<'_>]) -> Result<(), PlotError> {
    if panels.iter().all(|(_, _, sweep)| sweep.is_empty()) {
        return Err(PlotError::Empty);
    }
    let width = 460 * panels.len().max(1) as u32;
    render(path, (width, 520), |root| {
        let root = root.titled(title, (FONT, 24))?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for ((name, raise, sweep), area) in panels.iter().zip(&areas) {
            let mut chart = ChartBuilder::on(area)
                .caption(*name, (FONT, 20))
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(56)
                .build_cartesian_2d(0.0..1.0, 0.0..100.0)?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .x_desc("raise threshold")
                .y_desc("held faces that raise it (%)")
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 16))
                .draw()?;
            let raise = f64::from(*raise);
            chart.draw_series(LineSeries::new(
                [(raise, 0.0), (raise, 100.0)],
                BLACK.mix(0.4).stroke_width(2),
            ))?;
            let line = |pick: fn(&SweepPoint) -> Option<f64>| -> Vec<(f64, f64)> {
                sweep
                    .iter()
                    .filter_map(|p| Some((f64::from(p.threshold), pick(p)?)))
                    .collect()
            };
            for (label, color, points) in [
                ("watched classes (hits)", RGBColor(30, 90, 200), line(|p| p.hit)),
                (
                    "other classes (false alarms)",
                    RGBColor(200, 60, 40),
                    line(|p| p.false_alarm),
                ),
            ] {
                chart
                    .draw_series(LineSeries::new(points, color.stroke_width(3)))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3)));
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests;

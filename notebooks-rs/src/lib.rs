//! Shared helpers of the notebook examples: where the data and the pictures live, the PROTOCOLS
//! holdout split, and one small chart helper that draws panels of line charts into an SVG file.
//!
//! Charts use plotters' SVG backend only: text is written as SVG `<text>` and laid out by
//! plotters' naive size estimate, so no font or system library is needed to build or run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use datasets::DatasetName;
use engine::eval::{evaluate_ranking, per_user_holdout, positives, without};
use engine::{Csr, Duplicates, InteractionLog, Interactions, Recommender, TrainingUsers};
use plotters::coord::Shift;
use plotters::prelude::*;

pub use plotters::chart::SeriesLabelPosition;

/// PROTOCOLS: ratings ≥ 4 are the positives.
pub const POSITIVE_THRESHOLD: f32 = 4.0;
/// PROTOCOLS: share of each eligible user's positives held out.
pub const TEST_FRACTION: f64 = 0.2;
/// PROTOCOLS: users with at least this many positives are split.
pub const MIN_POSITIVES: usize = 5;
/// PROTOCOLS: the split seed.
pub const SPLIT_SEED: u64 = 42;
/// The metric cut-off of the charts (nDCG@10).
pub const K: usize = 10;

/// The MovieLens folder: `CINEREC_DATA_DIR`, else `shared/datasets` beside the repository.
pub use datasets::checkout_data_dir as data_dir;

/// `notebooks-rs/out/` (git-ignored), created if missing.
pub fn out_dir() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("out");
    fs_err::create_dir_all(&dir)?;
    Ok(dir)
}

/// One dataset's PROTOCOLS holdout: binary positives, 20 % of each user's held out; the other
/// training ratings are seen.
#[derive(Clone, Debug)]
pub struct Holdout {
    /// The dataset.
    pub dataset: DatasetName,
    /// Training positives (value 1), users × items.
    pub train: Interactions,
    /// The training ratings below the positive threshold (seen, not learned from), same shape.
    pub also_seen: Csr,
    /// Held-out positives, same shape.
    pub test: Interactions,
}

/// Loads `dataset` from [`data_dir`] and splits it with
/// `per_user_holdout(&positives, 0.2, 5, 42)`.
pub fn holdout(dataset: DatasetName) -> Result<Holdout> {
    let dir = data_dir();
    let log = datasets::load_ratings_log(&dir, dataset).with_context(|| {
        format!(
            "loading {dataset} from {} (set CINEREC_DATA_DIR, or `cinerec datasets download {dataset}`)",
            dir.display()
        )
    })?;
    let split = per_user_holdout(
        &positives(&log.entries, POSITIVE_THRESHOLD),
        TEST_FRACTION,
        MIN_POSITIVES,
        SPLIT_SEED,
    )?;
    let matrix = |log: &InteractionLog, entries| -> Result<Interactions> {
        Ok(log.interactions_of(entries, Duplicates::KeepLatest)?.map_values(|_| 1.0))
    };
    let not_positive: Vec<_> =
        without(&log.entries, &[&split.test]).into_iter().filter(|e| e.value < POSITIVE_THRESHOLD).collect();
    Ok(Holdout {
        dataset,
        train: matrix(&log, &split.train)?,
        also_seen: log.interactions_of(&not_positive, Duplicates::KeepLatest)?.into_user_items(),
        test: matrix(&log, &split.test)?,
    })
}

/// nDCG@10 of `model` on the held-out positives (every rated training movie excluded from the
/// ranking).
pub fn ndcg(model: &dyn Recommender, holdout: &Holdout) -> Result<f64> {
    let training = TrainingUsers::new(holdout.train.user_items(), &holdout.also_seen)?;
    Ok(evaluate_ranking(model, training, holdout.test.user_items(), K)?.ndcg)
}

/// One line of a chart: its legend label and its `(x, y)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// One chart of a figure: caption, axis labels (with units), lines and legend placement.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Caption above the chart.
    pub caption: String,
    /// x-axis description.
    pub x_label: String,
    /// y-axis description.
    pub y_label: String,
    /// Plot x on a log2 scale, with ticks at the powers of two (e.g. factor counts).
    pub log2_x: bool,
    /// Start the y axis at 0 (for durations) rather than just below the smallest value.
    pub y_from_zero: bool,
    /// Where the legend sits.
    pub legend: SeriesLabelPosition,
    /// The lines.
    pub series: Vec<Series>,
}

impl Panel {
    /// A linear-axis panel with no lines yet and the legend at the lower right.
    pub fn new(caption: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            caption: caption.to_owned(),
            x_label: x_label.to_owned(),
            y_label: y_label.to_owned(),
            log2_x: false,
            y_from_zero: false,
            legend: SeriesLabelPosition::LowerRight,
            series: Vec::new(),
        }
    }

    /// Log2 x axis.
    pub fn log2_x(mut self) -> Self {
        self.log2_x = true;
        self
    }

    /// y axis from 0.
    pub fn y_from_zero(mut self) -> Self {
        self.y_from_zero = true;
        self
    }

    /// Moves the legend.
    pub fn legend(mut self, position: SeriesLabelPosition) -> Self {
        self.legend = position;
        self
    }

    /// Adds a line.
    pub fn line(mut self, label: &str, points: Vec<(f64, f64)>) -> Self {
        self.series.push(Series { label: label.to_owned(), points });
        self
    }
}

/// Line colours, in series order (Tableau 10).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
const PANEL_SIZE: (u32, u32) = (640, 440);
const TITLE_HEIGHT: u32 = 50;
/// Font family of all text; plotters writes sizes as `size / 1.24` px, so a size 24 is ~19 px.
const FONT: &str = "sans-serif";

/// Draws `panels` in a grid of `columns` columns under `title` and writes the SVG to `path`.
pub fn draw_panels(path: &Path, title: &str, columns: usize, panels: &[Panel]) -> Result<()> {
    anyhow::ensure!(columns > 0 && !panels.is_empty(), "a figure needs at least one panel and column");
    let rows = panels.len().div_ceil(columns);
    let size = (PANEL_SIZE.0 * columns as u32, PANEL_SIZE.1 * rows as u32 + TITLE_HEIGHT);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let body = root.titled(title, (FONT, 32))?;
    for (area, panel) in body.split_evenly((rows, columns)).iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn draw_panel(area: &DrawingArea<SVGBackend<'_>, Shift>, panel: &Panel) -> Result<()> {
    let x_of = |x: f64| if panel.log2_x { x.log2() } else { x };
    let points = || panel.series.iter().flat_map(|s| s.points.iter().map(|&(x, y)| (x_of(x), y)));
    let (x_range, y_range) =
        (padded(points().map(|p| p.0), false, 0.06), padded(points().map(|p| p.1), panel.y_from_zero, 0.08));
    let (x_span, y_span) = (x_range.end - x_range.start, y_range.end - y_range.start);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, (FONT, 24))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(86)
        .build_cartesian_2d(x_range, y_range)?;
    let log2_tick = |x: &f64| {
        if (x - x.round()).abs() < 1e-6 { format!("{}", 2f64.powi(x.round() as i32)) } else { String::new() }
    };
    let linear_tick = |x: &f64| tick(*x, x_span);
    chart
        .configure_mesh()
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 18))
        .x_labels(if panel.log2_x { x_span.floor() as usize + 1 } else { 10 })
        .y_labels(8)
        .x_label_formatter(if panel.log2_x { &log2_tick } else { &linear_tick })
        .y_label_formatter(&|y| tick(*y, y_span))
        .max_light_lines(0)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    for (series, color) in panel.series.iter().zip(PALETTE.iter().cycle()) {
        let points: Vec<(f64, f64)> = series.points.iter().map(|&(x, y)| (x_of(x), y)).collect();
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
            .label(&series.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(panel.legend.clone())
        .label_font((FONT, 18))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .draw()?;
    Ok(())
}

/// The range of `values`, widened by `pad` of its span on each side (from 0 if `from_zero`).
fn padded(values: impl Iterator<Item = f64>, from_zero: bool, pad: f64) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) * 0.1 };
    let start = if from_zero { 0f64.min(lo) } else { lo - pad * span };
    start..hi + pad * span
}

/// A tick label with as many decimals as an axis spanning `span` needs.
fn tick(value: f64, span: f64) -> String {
    let decimals = (1.0 - span.log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_panels_writes_an_svg_with_title_labels_and_legend() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        let panel = Panel::new("nDCG by factors", "factors", "nDCG@10")
            .log2_x()
            .line("ml-100k", vec![(16.0, 0.20), (64.0, 0.25), (256.0, 0.22)])
            .line("ml-latest-small", vec![(16.0, 0.15), (64.0, 0.18)]);
        let time =
            Panel::new("time", "factors", "seconds").log2_x().y_from_zero().line("x", vec![(16.0, 1.0)]);
        draw_panels(&path, "A test figure", 2, &[panel, time]).unwrap();
        let svg = fs_err::read_to_string(&path).unwrap();
        for text in ["<svg", "A test figure", "nDCG by factors", "factors", "ml-latest-small", "\n256\n"] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
    }

    #[test]
    fn ticks_have_the_decimals_their_axis_needs() {
        for (value, span, want) in [(0.2153, 0.05, "0.215"), (12.0, 15.0, "12"), (1.24, 1.5, "1.2")] {
            assert_eq!(tick(value, span), want, "tick({value}, {span})");
        }
        assert_eq!(padded([1.0, 3.0].into_iter(), true, 0.1), 0.0..3.2);
    }
}

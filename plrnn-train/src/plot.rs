//! PNG plots comparing a true and a generated trajectory: 2-D state-space projections on top,
//! the first channels' time series below.
//!
//! Rendering needs no system library: plotters draws into an in-memory RGB buffer, text uses
//! the DejaVu Sans Mono font embedded from the `dejavu` crate through plotters' `ab_glyph`
//! backend, the `image` crate encodes the PNG, and [`crate::io::atomic_write`] writes it.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::io::atomic_write;
use crate::series::TimeSeries;

/// Why a plot could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// A series to plot has no time step.
    #[error("cannot plot: the {which} series is empty")]
    Empty {
        /// `"true"` or `"generated"`.
        which: &'static str,
    },
    /// True and generated series have different channel counts.
    #[error(
        "cannot plot: true data has {true_dims} channels but generated data has {generated_dims}"
    )]
    WidthMismatch {
        /// Channels of the true series.
        true_dims: usize,
        /// Channels of the generated series.
        generated_dims: usize,
    },
    /// The image size is out of range.
    #[error("image size must be between {MIN_SIZE} and {MAX_SIZE} pixels per side, got {width}×{height}")]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// Drawing failed inside plotters.
    #[error("drawing the plot failed: {0}")]
    Draw(String),
    /// PNG encoding failed.
    #[error("encoding the PNG failed: {0}")]
    Encode(String),
    /// Writing the file failed (a previous file, if any, is untouched).
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// Smallest accepted image side in pixels.
pub const MIN_SIZE: u32 = 200;
/// Largest accepted image side in pixels.
pub const MAX_SIZE: u32 = 8000;

/// Colour of the true trajectory (blue).
pub const TRUE_COLOR: RGBColor = RGBColor(31, 119, 180);
/// Colour of the generated trajectory (orange).
pub const GENERATED_COLOR: RGBColor = RGBColor(255, 127, 14);
/// Background colour.
pub const BACKGROUND: RGBColor = WHITE;

/// What to draw and how large.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotOptions {
    /// Image width in pixels (default 1200).
    pub width: u32,
    /// Image height in pixels (default 900).
    pub height: u32,
    /// Steps drawn in the state-space projections, from `start` (default 20 000).
    pub projection_steps: usize,
    /// Steps drawn in the time-series panels, from `start` (default 1000).
    pub time_steps: usize,
    /// First step drawn (default 0).
    pub start: usize,
    /// Sampling step in seconds; when known, time axes are in seconds instead of steps.
    pub dt: Option<f64>,
    /// Lag τ (in steps) of the delay plot x_t vs x_{t+τ} drawn beside the time series of 1-D
    /// data; `None` chooses it from the first minimum of the auto-mutual information.
    pub delay: Option<usize>,
    /// Number of channels given a time-series panel, from the first (default 3).
    pub channels: usize,
    /// A title line above the panels.
    pub title: Option<String>,
    /// Draw text (panel captions, tick labels, legend); `false` keeps only frames and curves.
    pub text: bool,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            width: 1200,
            height: 900,
            projection_steps: 20_000,
            time_steps: 1000,
            start: 0,
            dt: None,
            delay: None,
            channels: 3,
            title: None,
            text: true,
        }
    }
}

/// A panel: a projection of channels `(i, j)` or the time series of channel `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PanelKind {
    Projection(usize, usize),
    Time(usize),
    /// x_t vs x_{t+τ} of channel `i` (for 1-D data, whose attractor has no other projection).
    Delay(usize),
}

/// A panel and its pixel rectangle `(x0, y0, x1, y1)`, end-exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Panel {
    pub(crate) kind: PanelKind,
    pub(crate) rect: (u32, u32, u32, u32),
}

const TITLE_HEIGHT: u32 = 32;

/// The panel layout for `dims` channels: projections (x1–x2, x1–x3, x2–x3 for ≥ 3 channels,
/// x1–x2 for 2) in a row over the upper 55 %, then one time-series row per channel shown. 1-D
/// data get a delay plot (the left third) beside their time series.
pub(crate) fn layout(dims: usize, opts: &PlotOptions) -> Vec<Panel> {
    let (w, h) = (opts.width, opts.height);
    let top = if opts.title.is_some() && opts.text {
        TITLE_HEIGHT
    } else {
        0
    };
    if dims == 1 && opts.channels >= 1 {
        let split = w / 3;
        return vec![
            Panel {
                kind: PanelKind::Delay(0),
                rect: (0, top, split, h),
            },
            Panel {
                kind: PanelKind::Time(0),
                rect: (split, top, w, h),
            },
        ];
    }
    let pairs: Vec<(usize, usize)> = match dims {
        0 | 1 => vec![],
        2 => vec![(0, 1)],
        _ => vec![(0, 1), (0, 2), (1, 2)],
    };
    let n_time = opts.channels.min(dims);
    let body = h - top;
    let proj_h = match (pairs.is_empty(), n_time) {
        (true, _) => 0,
        (false, 0) => body,
        (false, _) => body * 55 / 100,
    };
    let mut panels = Vec::new();
    for (k, &(i, j)) in pairs.iter().enumerate() {
        let n = pairs.len() as u32;
        let k = k as u32;
        panels.push(Panel {
            kind: PanelKind::Projection(i, j),
            rect: (w * k / n, top, w * (k + 1) / n, top + proj_h),
        });
    }
    let rows = n_time as u32;
    for c in 0..n_time {
        let c32 = c as u32;
        let y0 = top + proj_h + (body - proj_h) * c32 / rows;
        let y1 = top + proj_h + (body - proj_h) * (c32 + 1) / rows;
        panels.push(Panel {
            kind: PanelKind::Time(c),
            rect: (0, y0, w, y1),
        });
    }
    panels
}

/// Registers the embedded font once; false when it cannot be parsed (then no text is drawn).
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans_mono::regular(),
        )
        .is_ok()
    })
}

/// Renders the comparison plot into PNG bytes (see [`plot_trajectories`]).
pub fn render_png(
    true_: Option<&TimeSeries>,
    generated: &TimeSeries,
    opts: &PlotOptions,
) -> Result<Vec<u8>, PlotError> {
    let rgb = render_rgb(true_, generated, opts)?;
    let mut png = Vec::new();
    {
        use image::ImageEncoder;
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&rgb, opts.width, opts.height, image::ColorType::Rgb8)
            .map_err(|e| PlotError::Encode(e.to_string()))?;
    }
    Ok(png)
}

/// Writes a PNG comparing `true_` (if given, in [`TRUE_COLOR`]) with `generated` (in
/// [`GENERATED_COLOR`]): state-space projections x1–x2, x1–x3, x2–x3 (x1–x2 for 2-D data, none
/// for 1-D) over the first `projection_steps` steps, and below them the first `channels`
/// channels against time over the first `time_steps` steps. Non-finite values (a diverged
/// generator) are skipped, breaking the curve. The file is written atomically.
pub fn plot_trajectories(
    path: &Path,
    true_: Option<&TimeSeries>,
    generated: &TimeSeries,
    opts: &PlotOptions,
) -> Result<(), PlotError> {
    let png = render_png(true_, generated, opts)?;
    atomic_write(path, &png).map_err(|source| PlotError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Renders the metric spread of a sweep into PNG bytes: two panels (D_stsp, D_H), one column
/// per data set (in first-seen order), one point per run, methods side by side in
/// [`TRUE_COLOR`] (the first method) and [`GENERATED_COLOR`] (the others). `points` are
/// (data set, method, D_stsp, D_H); non-finite values are left out.
pub fn render_spread_png(points: &[(String, String, f64, f64)]) -> Result<Vec<u8>, PlotError> {
    if points.is_empty() {
        return Err(PlotError::Empty { which: "generated" });
    }
    let mut names: Vec<&str> = Vec::new();
    let mut methods: Vec<&str> = Vec::new();
    for (d, m, _, _) in points {
        if !names.contains(&d.as_str()) {
            names.push(d);
        }
        if !methods.contains(&m.as_str()) {
            methods.push(m);
        }
    }
    let (w, h) = (160 + 90 * names.len() as u32, 760u32);
    let w = w.clamp(MIN_SIZE, MAX_SIZE);
    let text = font_ready();
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let draw = || -> DrawResult<()> {
            root.fill(&BACKGROUND)?;
            let panels = root.split_evenly((2, 1));
            for (k, area) in panels.iter().enumerate() {
                let vals: Vec<(f64, f64, usize)> = points
                    .iter()
                    .filter_map(|(d, m, ds, dh)| {
                        let v = if k == 0 { *ds } else { *dh };
                        let x = names.iter().position(|n| n == d)? as f64;
                        let mi = methods.iter().position(|n| n == m)?;
                        let off = if methods.len() > 1 {
                            0.3 * (mi as f64 / (methods.len() - 1) as f64 - 0.5)
                        } else {
                            0.0
                        };
                        v.is_finite().then_some((x + off, v, mi))
                    })
                    .collect();
                let top = vals.iter().map(|p| p.1).fold(0.0f64, f64::max);
                let top = if top > 0.0 { top * 1.1 } else { 1.0 };
                let caption = if k == 0 { "D_stsp" } else { "D_H" };
                let mut b = ChartBuilder::on(area);
                b.margin(10).x_label_area_size(if text { 60 } else { 0 });
                b.y_label_area_size(if text { 60 } else { 0 });
                if text {
                    b.caption(caption, ("sans-serif", 18));
                }
                let mut chart =
                    b.build_cartesian_2d(-0.5f64..names.len() as f64 - 0.5, 0.0f64..top)?;
                if text {
                    chart
                        .configure_mesh()
                        .disable_x_mesh()
                        .x_labels(names.len() + 1)
                        .x_label_formatter(&|x| {
                            let i = x.round();
                            if (x - i).abs() < 1e-6 && i >= 0.0 {
                                names
                                    .get(i as usize)
                                    .map(|s| s.to_string())
                                    .unwrap_or_default()
                            } else {
                                String::new()
                            }
                        })
                        .draw()?;
                }
                for (mi, m) in methods.iter().enumerate() {
                    let color = if mi == 0 { TRUE_COLOR } else { GENERATED_COLOR };
                    let s = chart.draw_series(
                        vals.iter()
                            .filter(|p| p.2 == mi)
                            .map(|p| Circle::new((p.0, p.1), 4, color.filled())),
                    )?;
                    if text && k == 0 {
                        s.label(*m)
                            .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
                    }
                }
                if text && k == 0 {
                    chart
                        .configure_series_labels()
                        .background_style(WHITE.mix(0.8))
                        .border_style(BLACK)
                        .draw()?;
                }
            }
            Ok(())
        };
        draw().map_err(|e| PlotError::Draw(e.to_string()))?;
        root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    let mut png = Vec::new();
    {
        use image::ImageEncoder;
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&buf, w, h, image::ColorType::Rgb8)
            .map_err(|e| PlotError::Encode(e.to_string()))?;
    }
    Ok(png)
}

/// Renders into a row-major RGB8 buffer of `width × height` pixels.
pub(crate) fn render_rgb(
    true_: Option<&TimeSeries>,
    generated: &TimeSeries,
    opts: &PlotOptions,
) -> Result<Vec<u8>, PlotError> {
    let (w, h) = (opts.width, opts.height);
    if !(MIN_SIZE..=MAX_SIZE).contains(&w) || !(MIN_SIZE..=MAX_SIZE).contains(&h) {
        return Err(PlotError::InvalidSize {
            width: w,
            height: h,
        });
    }
    if generated.is_empty() {
        return Err(PlotError::Empty { which: "generated" });
    }
    if let Some(t) = true_ {
        if t.is_empty() {
            return Err(PlotError::Empty { which: "true" });
        }
        if t.dims() != generated.dims() {
            return Err(PlotError::WidthMismatch {
                true_dims: t.dims(),
                generated_dims: generated.dims(),
            });
        }
    }
    let text = opts.text && font_ready();
    let opts = &PlotOptions {
        text,
        ..opts.clone()
    };
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw_all(&root, true_, generated, opts).map_err(|e| PlotError::Draw(e.to_string()))?;
        root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    Ok(buf)
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

fn draw_all(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    true_: Option<&TimeSeries>,
    generated: &TimeSeries,
    opts: &PlotOptions,
) -> DrawResult<()> {
    root.fill(&BACKGROUND)?;
    if let (Some(title), true) = (&opts.title, opts.text) {
        root.draw(&Text::new(
            title.clone(),
            (10, 8),
            ("sans-serif", 20).into_font().color(&BLACK),
        ))?;
    }
    let panels = layout(generated.dims(), opts);
    let from = opts.start;
    let delay = opts.delay.unwrap_or_else(|| {
        let x = true_.unwrap_or(generated).column(0);
        let x = &x[from.min(x.len())..];
        let ami = crate::embed::auto_mutual_information(x, (x.len() / 10).clamp(2, 2000), 32);
        crate::embed::first_minimum(&ami)
            .unwrap_or_else(|| crate::embed::autocorrelation_time(x, x.len() / 10))
            .max(1)
    });
    let (unit, scale) = match opts.dt {
        Some(dt) => ("s", dt),
        None => ("steps", 1.0),
    };
    for (k, p) in panels.iter().enumerate() {
        let (x0, y0, x1, y1) = p.rect;
        let area = root.clone().shrink(
            (x0 as i32, y0 as i32),
            (x1.saturating_sub(x0), y1.saturating_sub(y0)),
        );
        let legend = k == 0 && opts.text;
        match p.kind {
            PanelKind::Projection(i, j) => {
                let n = opts.projection_steps;
                let pts = |s: &TimeSeries| -> Vec<(f64, f64)> {
                    s.rows().skip(from).take(n).map(|r| (r[i], r[j])).collect()
                };
                let t = true_.map(pts);
                let g = pts(generated);
                let caption = format!("x{} vs x{}", i + 1, j + 1);
                draw_panel(&area, &caption, t.as_deref(), &g, legend, opts)?;
            }
            PanelKind::Time(c) => {
                let n = opts.time_steps;
                let pts = |s: &TimeSeries| -> Vec<(f64, f64)> {
                    s.rows()
                        .enumerate()
                        .skip(from)
                        .take(n)
                        .map(|(t, r)| (t as f64 * scale, r[c]))
                        .collect()
                };
                let t = true_.map(pts);
                let g = pts(generated);
                let caption = format!("x{} over time ({unit})", c + 1);
                draw_panel(&area, &caption, t.as_deref(), &g, legend, opts)?;
            }
            PanelKind::Delay(c) => {
                let n = opts.projection_steps;
                let pts = |s: &TimeSeries| -> Vec<(f64, f64)> {
                    let x = s.column(c);
                    let end = x.len().min(from.saturating_add(n)).saturating_sub(delay);
                    (from..end).map(|t| (x[t], x[t + delay])).collect()
                };
                let t = true_.map(pts);
                let g = pts(generated);
                let lag = match opts.dt {
                    Some(dt) => format!("{:.4} s", delay as f64 * dt),
                    None => format!("{delay} steps"),
                };
                let caption = format!("x{0}(t) vs x{0}(t + {lag})", c + 1);
                draw_panel(&area, &caption, t.as_deref(), &g, legend, opts)?;
            }
        }
    }
    Ok(())
}

/// Largest magnitude drawn: beyond it a diverging generator is clipped, so pixel arithmetic
/// stays finite.
const CLAMP: f64 = 1e12;

/// A padded, finite, non-degenerate axis range covering the finite values.
fn axis_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        let v = v.clamp(-CLAMP, CLAMP);
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (-1.0, 1.0);
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        0.05 * span
    } else {
        lo.abs().max(1.0) * 0.1
    };
    (lo - pad, hi + pad)
}

/// Splits a curve at non-finite points and clamps the rest into `±CLAMP`.
fn finite_segments(pts: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![];
    let mut cur = vec![];
    for &(x, y) in pts {
        if x.is_finite() && y.is_finite() {
            cur.push((x.clamp(-CLAMP, CLAMP), y.clamp(-CLAMP, CLAMP)));
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    caption: &str,
    true_pts: Option<&[(f64, f64)]>,
    gen_pts: &[(f64, f64)],
    legend: bool,
    opts: &PlotOptions,
) -> DrawResult<()> {
    let all = || true_pts.unwrap_or(&[]).iter().chain(gen_pts);
    let xr = axis_range(all().map(|p| p.0));
    let yr = axis_range(all().map(|p| p.1));
    let mut builder = ChartBuilder::on(area);
    builder.margin(8);
    if opts.text {
        builder
            .caption(caption, ("sans-serif", 15))
            .x_label_area_size(24)
            .y_label_area_size(52);
    }
    let mut chart = builder.build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .axis_style(BLACK);
    if opts.text {
        mesh.x_labels(6)
            .y_labels(5)
            .label_style(("sans-serif", 12))
            .x_label_formatter(&tick_label)
            .y_label_formatter(&tick_label);
    } else {
        mesh.x_labels(6)
            .y_labels(5)
            .x_label_formatter(&no_label)
            .y_label_formatter(&no_label);
    }
    mesh.draw()?;
    // The frame, also when there is no text.
    let plot = chart.plotting_area();
    let (px, py) = plot.get_pixel_range();
    plot.strip_coord_spec().draw(&Rectangle::new(
        [(0, 0), (px.end - px.start - 1, py.end - py.start - 1)],
        BLACK.stroke_width(1),
    ))?;

    /// A curve to draw: points, colour, opacity, legend label.
    type Curve<'a> = (&'a [(f64, f64)], RGBColor, f64, &'static str);
    let mut series: Vec<Curve<'_>> = vec![];
    if let Some(t) = true_pts {
        series.push((t, TRUE_COLOR, 0.8, "true"));
    }
    series.push((gen_pts, GENERATED_COLOR, 0.7, "generated"));
    // plotters' anti-aliased 1-px line rasteriser leaves gaps in some slopes; curves are drawn
    // with our own Bresenham instead, clipped to the plotting area.
    let base = area.get_base_pixel();
    let (px, py) = (
        px.start - base.0..px.end - base.0,
        py.start - base.1..py.end - base.1,
    );
    for (pts, color, alpha, label) in series {
        let pixel = color.mix(alpha);
        for seg in finite_segments(pts) {
            let mut prev: Option<(i32, i32)> = None;
            for p in seg {
                let (x, y) = chart.backend_coord(&p);
                // Points lie inside the axis ranges; the clamp only bounds the work on a
                // rounding slip.
                let cur = (
                    (x - base.0).clamp(px.start - 1, px.end),
                    (y - base.1).clamp(py.start - 1, py.end),
                );
                let mut result = Ok(());
                let mut plot_px = |q: (i32, i32)| {
                    if result.is_ok() && px.contains(&q.0) && py.contains(&q.1) {
                        result = area.draw_pixel(q, &pixel);
                    }
                };
                match prev {
                    // Skip the shared start pixel so joints are not blended twice.
                    Some(a) => bresenham(a, cur, true, &mut plot_px),
                    None => plot_px(cur),
                }
                result?;
                prev = Some(cur);
            }
        }
        if legend {
            chart
                .draw_series(LineSeries::new(std::iter::empty::<(f64, f64)>(), color))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                });
        }
    }
    if legend {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    Ok(())
}

/// Calls `plot` for every pixel of the line from `a` to `b` (integer Bresenham), leaving out `a`
/// itself when `skip_first`.
fn bresenham(a: (i32, i32), b: (i32, i32), skip_first: bool, plot: &mut impl FnMut((i32, i32))) {
    let (mut x, mut y) = (a.0 as i64, a.1 as i64);
    let (x1, y1) = (b.0 as i64, b.1 as i64);
    let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
    let (sx, sy) = (if x < x1 { 1 } else { -1 }, if y < y1 { 1 } else { -1 });
    let mut err = dx + dy;
    let mut first = true;
    loop {
        if !(first && skip_first) {
            plot((x as i32, y as i32));
        }
        first = false;
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

fn no_label(_: &f64) -> String {
    String::new()
}

/// A tick label of at most a few characters.
fn tick_label(v: &f64) -> String {
    let v = *v;
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests;

//! Line charts (plotters) as SVG or PNG, written atomically. Every picture of the project is
//! drawn as SVG first; a PNG is that SVG rasterised by resvg ([`rasterise`]), anti-aliased, its
//! text in DejaVu Sans embedded in the binary (no system font needed). The SVG names the font
//! `sans-serif`, measured with DejaVu Sans: a viewer without DejaVu draws its own sans-serif.
use anyhow::{bail, Context, Result};
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// The formats `--plot` takes, from the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotFormat {
    /// `.svg` (matplotlib's `savefig("x.svg")`).
    Svg,
    /// `.png` (matplotlib's `savefig("x.png")`).
    Png,
}

/// The format of `path` from its extension; anything but `.svg` or `.png` is an error.
pub fn plot_format(path: &Path) -> Result<PlotFormat> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(PlotFormat::Svg),
        Some("png") => Ok(PlotFormat::Png),
        Some(other) => bail!(
            "cannot plot to {}: unknown extension '.{other}' (use .svg or .png)",
            path.display()
        ),
        None => bail!(
            "cannot plot to {}: no extension (use .svg or .png)",
            path.display()
        ),
    }
}

/// `--plot FILE.svg|FILE.png` for clap: a wrong extension is a usage error.
pub fn plot_path_arg(s: &str) -> std::result::Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(s);
    plot_format(&path).map_err(|e| e.to_string())?;
    Ok(path)
}

/// One line of a chart.
pub struct Series {
    /// The legend's text (matplotlib's `label=`).
    pub label: String,
    /// The `(x, y)` points, in order.
    pub points: Vec<(f64, f64)>,
}

/// One chart of a figure.
pub struct Panel {
    /// `ax.set_title`.
    pub title: String,
    /// `ax.set_xlabel`.
    pub x_label: String,
    /// `ax.set_ylabel`.
    pub y_label: String,
    /// The lines (`ax.plot`, one per series).
    pub series: Vec<Series>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Draws `panels` in a grid of `cols` columns to `path` (SVG or PNG by extension). The picture
/// is rendered in memory and written by [`crate::io::files::write_atomic`]: a failure leaves no
/// partial file and any old file untouched.
pub fn draw(path: &Path, panels: &[Panel], cols: usize, panel_size: (u32, u32)) -> Result<()> {
    let format = plot_format(path)?;
    let bytes = render(format, panels, cols, panel_size)
        .with_context(|| format!("cannot draw plot {}", path.display()))?;
    // write_atomic's errors name the file already ("cannot write X: ...").
    crate::io::files::write_atomic(path, |w| Ok(w.write_all(&bytes)?))
}

/// The picture's bytes: an SVG document, or a PNG file.
pub fn render(
    format: PlotFormat,
    panels: &[Panel],
    cols: usize,
    panel_size: (u32, u32),
) -> Result<Vec<u8>> {
    register_fonts();
    let cols = cols.max(1);
    let rows = panels.len().div_ceil(cols).max(1);
    let size = (panel_size.0 * cols as u32, panel_size.1 * rows as u32);
    match format {
        PlotFormat::Svg => Ok(svg_document(panels, rows, cols, size)?.into_bytes()),
        PlotFormat::Png => rasterise(&svg_document(panels, rows, cols, size)?, 1.0),
    }
}

fn svg_document(panels: &[Panel], rows: usize, cols: usize, size: (u32, u32)) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw_on(&root, panels, rows, cols)?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(svg)
}

/// An SVG document rasterised at `scale` on a white background, its `sans-serif` text in
/// DejaVu Sans from the binary: the one way every PNG of the project is made.
pub fn rasterise(svg: &str, scale: f32) -> Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    let mut options = usvg::Options::default();
    {
        let db = options.fontdb_mut();
        db.load_font_data(dejavu::sans::regular().to_vec());
        db.load_font_data(dejavu::sans::bold().to_vec());
        db.set_sans_serif_family("DejaVu Sans");
    }
    let tree = usvg::Tree::from_str(svg, &options).context("reading the drawn SVG")?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .context("picture size")?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .context("picture too large to rasterise")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("encoding the PNG")
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

fn draw_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Panel],
    rows: usize,
    cols: usize,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e}");
    root.fill(&WHITE).map_err(err)?;
    for (area, panel) in root.split_evenly((rows, cols)).iter().zip(panels) {
        let (x0, x1) = range(
            panel
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0)),
        );
        let (y0, y1) = range(
            panel
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1)),
        );
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        let points = || panel.series.iter().flat_map(|s| s.points.iter());
        // Epochs and steps are counted: their ticks are whole numbers, at most one per unit.
        let counted = points().all(|p| p.0.fract() == 0.0);
        let x_ticks = if counted {
            ((x1 - x0).floor() as usize + 1).clamp(2, 10)
        } else {
            10
        };
        let (x_decimals, y_decimals) = (decimals(x0, x1, counted), decimals(y0, y1, false));
        chart
            .configure_mesh()
            .x_labels(x_ticks)
            .x_label_formatter(&|v| tick(*v, x_decimals))
            .y_label_formatter(&|v| tick(*v, y_decimals))
            .x_desc(panel.x_label.as_str())
            .y_desc(panel.y_label.as_str())
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        for (i, s) in panel.series.iter().enumerate() {
            let points = s.points.iter().copied().filter(|p| p.1.is_finite());
            let style = LineStyle {
                color: COLORS[i % COLORS.len()],
                dashed: false,
                dots: false,
            };
            draw_line(&mut chart, &s.label, points.collect(), style)?;
        }
        let corner = emptiest_corner(points().copied(), (x0, x1), (y0, y1));
        draw_legend(&mut chart, corner, 13)?;
    }
    Ok(())
}

/// The decimals that tell a chart's ticks apart: about a tenth of the range, none for counts.
fn decimals(lo: f64, hi: f64, counted: bool) -> usize {
    let step = (hi - lo) / 10.0;
    if counted || !step.is_finite() || step <= 0.0 {
        return 0;
    }
    (-step.log10()).ceil().clamp(0.0, 6.0) as usize
}

/// A tick's label with `decimals` decimals; a value that rounds to zero is `0`, never `-0`.
fn tick(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => s,
    }
}

/// The corner of the plot with the fewest points in it (each corner: 40 % of the width and of
/// the height), where the legend hides the least; upper left first on a tie.
fn emptiest_corner(
    points: impl Iterator<Item = (f64, f64)>,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> SeriesLabelPosition {
    let mut counts = [0usize; 4];
    for (x, y) in points.filter(|p| p.1.is_finite()) {
        let (fx, fy) = ((x - x0) / (x1 - x0), (y - y0) / (y1 - y0));
        let (left, right, top, bottom) = (fx < 0.4, fx > 0.6, fy > 0.6, fy < 0.4);
        for (i, inside) in [top && left, top && right, bottom && left, bottom && right]
            .into_iter()
            .enumerate()
        {
            counts[i] += usize::from(inside);
        }
    }
    let positions = [
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::LowerLeft,
        SeriesLabelPosition::LowerRight,
    ];
    let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
    positions[best].clone()
}

/// How [`draw_line`] draws a line: 2 px of `color`, dashed or solid, with a dot at each point
/// or without.
#[derive(Clone, Copy, Debug)]
pub struct LineStyle {
    /// The line's and its dots' colour.
    pub color: RGBColor,
    /// Dashes of 6 px with gaps of 4 px instead of a solid line.
    pub dashed: bool,
    /// A filled circle of radius 3 px at each point.
    pub dots: bool,
}

/// Draws one line of a chart and its legend entry (a short stroke of the same style); every
/// chart of the project (this module's panels, `bench_plot`'s) draws its lines here.
pub fn draw_line<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    label: &str,
    points: Vec<(f64, f64)>,
    style: LineStyle,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate<From = (f64, f64)>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e}");
    let stroke = style.color.stroke_width(2);
    let legend = move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 18, y)], stroke);
    let series = if style.dashed {
        chart.draw_series(DashedLineSeries::new(points.clone(), 6, 4, stroke))
    } else {
        chart.draw_series(LineSeries::new(points.clone(), stroke))
    };
    series.map_err(err)?.label(label).legend(legend);
    if style.dots {
        let dots = points
            .iter()
            .map(|&p| Circle::new(p, 3, style.color.filled()));
        chart.draw_series(dots).map_err(err)?;
    }
    Ok(())
}

/// Draws the legend of a chart's labelled lines, on a white box, at `position`.
pub fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font_size: u32,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", font_size))
        .position(position)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(plot_format(Path::new("a.SVG")).unwrap(), PlotFormat::Svg);
        assert_eq!(plot_format(Path::new("a.png")).unwrap(), PlotFormat::Png);
        assert!(plot_format(Path::new("a.jpg"))
            .unwrap_err()
            .to_string()
            .contains("unknown extension '.jpg'"));
        assert!(plot_format(Path::new("a")).is_err());
    }

    #[test]
    fn ticks_never_read_minus_zero() {
        assert_eq!(tick(-0.0, 1), "0.0");
        assert_eq!(tick(-0.04, 1), "0.0");
        assert_eq!(tick(-0.05001, 1), "-0.1");
        assert_eq!(tick(3.0, 0), "3");
        assert_eq!(decimals(-1.1, 1.1, false), 1);
        assert_eq!(decimals(0.5, 1.0, false), 2);
        assert_eq!(decimals(0.0, 70.0, true), 0);
    }

    #[test]
    fn the_legend_goes_where_the_lines_are_not() {
        // A falling loss curve fills the upper left and the lower right.
        let falling = (0..30).map(|i| (f64::from(i), 1.0 - f64::from(i) / 30.0));
        let corner = emptiest_corner(falling, (0.0, 29.0), (0.0, 1.0));
        assert!(
            matches!(corner, SeriesLabelPosition::UpperRight),
            "{corner:?}"
        );
        let rising = (0..30).map(|i| (f64::from(i), f64::from(i) / 30.0));
        let corner = emptiest_corner(rising, (0.0, 29.0), (0.0, 1.0));
        assert!(
            matches!(corner, SeriesLabelPosition::UpperLeft),
            "{corner:?}"
        );
    }
}

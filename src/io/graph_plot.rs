//! Draws [`Graph`]s as PyTorch users see them with torchviz: the output on top, the backward
//! functions below, the leaves at the bottom, and arrows the way gradients flow. layout-rs
//! places the nodes and routes the edges; this module only renders its draw calls as SVG with
//! DejaVu Sans (measured, so no label is cut), adds titles and a legend, and rasterises the SVG
//! with resvg for a PNG.
use crate::io::plot::{plot_format, PlotFormat};
use crate::nn::graph::{Graph, NodeKind};
use ab_glyph::{Font, FontRef};
use anyhow::Result;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;
use std::fmt::Write as _;
use std::path::Path;

const FONT_FAMILY: &str = "'DejaVu Sans', Verdana, sans-serif";
const FONT_SIZE: f64 = 15.0;
const SMALL: f64 = 12.0;
const LINE: f64 = 1.3;
const MARGIN: f64 = 24.0;
/// A PNG is drawn at this multiple of the SVG's size, for sharp text at README width.
const PNG_SCALE: f32 = 1.5;

/// Colours: outputs green and leaves blue as torchviz draws them, operations grey,
/// AccumulateGrad (where gradients accumulate) amber.
struct Look {
    fill: &'static str,
    stroke: &'static str,
}

const fn look(fill: &'static str, stroke: &'static str) -> Look {
    Look { fill, stroke }
}

const OUTPUT: Look = look("#caf2b5", "#3d7a1f");
const OPERATION: Look = look("#ececec", "#606060");
const ACCUMULATE: Look = look("#ffe3a8", "#a86d00");
const LEAF: Look = look("#bfe0ff", "#1f5fa8");
const NONE: Look = look("#ffffff", "#9a9a9a");

/// Text widths from DejaVu Sans's own advances.
struct Metrics {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

impl Metrics {
    fn new() -> Result<Self> {
        let load = |bytes: &'static [u8]| {
            FontRef::try_from_slice(bytes).map_err(|e| anyhow::anyhow!("DejaVu Sans: {e}"))
        };
        Ok(Self {
            regular: load(dejavu::sans::regular())?,
            bold: load(dejavu::sans::bold())?,
        })
    }

    fn width(&self, text: &str, size: f64, bold: bool) -> f64 {
        let font = if bold { &self.bold } else { &self.regular };
        let em = font.units_per_em().unwrap_or(2048.0) as f64;
        text.chars()
            .map(|c| font.h_advance_unscaled(font.glyph_id(c)) as f64)
            .sum::<f64>()
            * size
            / em
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// SVG text: `lines` centred on `(x, y)`, the first line bold at `size`, the others smaller.
fn text_block(out: &mut String, x: f64, y: f64, lines: &[&str], size: f64) {
    let sizes: Vec<f64> = (0..lines.len())
        .map(|i| if i == 0 { size } else { SMALL })
        .collect();
    let height: f64 = sizes.iter().map(|s| s * LINE).sum();
    let mut top = y - height / 2.0;
    for (line, s) in lines.iter().zip(&sizes) {
        // The baseline sits 0.8 of the line's font size below its top, plus half the leading.
        let baseline = top + s * (LINE - 1.0) / 2.0 + s * 0.8;
        let (weight, fill) = if *s == size {
            ("bold", "#111111")
        } else {
            ("normal", "#404040")
        };
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{baseline:.1}" font-size="{s}" font-weight="{weight}" fill="{fill}" text-anchor="middle">{}</text>"#,
            escape(line)
        );
        top += s * LINE;
    }
}

/// A layout-rs render backend that writes SVG elements and keeps their bounding box.
struct Canvas {
    body: String,
    min: (f64, f64),
    max: (f64, f64),
    /// Draws the layout mirrored left to right about `x = axis / 2` (x becomes `axis - x`).
    mirror: Option<f64>,
}

impl Canvas {
    fn new(mirror: Option<f64>) -> Self {
        Self {
            body: String::new(),
            min: (f64::INFINITY, f64::INFINITY),
            max: (f64::NEG_INFINITY, f64::NEG_INFINITY),
            mirror,
        }
    }

    /// A point of the layout where it is drawn.
    fn at(&self, p: Point) -> Point {
        match self.mirror {
            Some(axis) => Point::new(axis - p.x, p.y),
            None => p,
        }
    }

    fn grow(&mut self, p: Point) {
        let p = self.at(p);
        self.min = (self.min.0.min(p.x), self.min.1.min(p.y));
        self.max = (self.max.0.max(p.x), self.max.1.max(p.y));
    }

    fn size(&self) -> (f64, f64) {
        (self.max.0 - self.min.0, self.max.1 - self.min.1)
    }
}

/// The colours and dash of a node, carried through layout-rs in `Element::properties`.
fn shape_attrs(props: &Option<String>) -> String {
    props.clone().unwrap_or_default()
}

impl RenderBackend for Canvas {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        self.grow(xy);
        self.grow(xy.add(size));
        let left = self.at(xy).x.min(self.at(xy.add(size)).x);
        let _ = writeln!(
            self.body,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{}" stroke-width="{}" {}/>"#,
            left,
            xy.y,
            size.x,
            size.y,
            look.rounded,
            look.line_width,
            shape_attrs(&properties)
        );
    }

    fn draw_line(
        &mut self,
        start: Point,
        stop: Point,
        look: &StyleAttr,
        _properties: Option<String>,
    ) {
        self.grow(start);
        self.grow(stop);
        let (start, stop) = (self.at(start), self.at(stop));
        let _ = writeln!(
            self.body,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333333" stroke-width="{}"/>"##,
            start.x, start.y, stop.x, stop.y, look.line_width
        );
    }

    fn draw_circle(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        properties: Option<String>,
    ) {
        self.grow(xy.sub(size.scale(0.5)));
        self.grow(xy.add(size.scale(0.5)));
        let xy = self.at(xy);
        let _ = writeln!(
            self.body,
            r#"<ellipse cx="{:.1}" cy="{:.1}" rx="{:.1}" ry="{:.1}" stroke-width="{}" {}/>"#,
            xy.x,
            xy.y,
            size.x / 2.0,
            size.y / 2.0,
            look.line_width,
            shape_attrs(&properties)
        );
    }

    fn draw_text(&mut self, xy: Point, text: &str, look: &StyleAttr) {
        let lines: Vec<&str> = text.lines().collect();
        let xy = self.at(xy);
        text_block(&mut self.body, xy.x, xy.y, &lines, look.font_size as f64);
    }

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        dashed: bool,
        head: (bool, bool),
        look: &StyleAttr,
        _properties: Option<String>,
        _text: &str,
    ) {
        if path.len() < 2 {
            return;
        }
        for (a, b) in path {
            self.grow(*a);
            self.grow(*b);
        }
        let path: Vec<(Point, Point)> = path
            .iter()
            .map(|&(a, b)| (self.at(a), self.at(b)))
            .collect();
        let mut d = format!(
            "M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}",
            path[0].0.x,
            path[0].0.y,
            path[0].1.x,
            path[0].1.y,
            path[1].0.x,
            path[1].0.y,
            path[1].1.x,
            path[1].1.y
        );
        for (a, b) in &path[2..] {
            let _ = write!(d, " S {:.1} {:.1}, {:.1} {:.1}", a.x, a.y, b.x, b.y);
        }
        let (color, marker) = if dashed {
            (NONE.stroke, "none-head")
        } else {
            ("#333333", "head")
        };
        let dash = if dashed {
            r#" stroke-dasharray="5,4""#
        } else {
            ""
        };
        let end = if head.1 {
            format!(r#" marker-end="url(#{marker})""#)
        } else {
            String::new()
        };
        let _ = writeln!(
            self.body,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="{}"{dash}{end}/>"#,
            look.line_width
        );
    }

    fn create_clip(&mut self, _xy: Point, _size: Point, _rounded_px: usize) -> ClipHandle {
        0
    }
}

fn fill_attrs(look: &Look, dashed: bool) -> String {
    let dash = if dashed {
        r#" stroke-dasharray="4,3""#
    } else {
        ""
    };
    format!(r#"fill="{}" stroke="{}"{dash}"#, look.fill, look.stroke)
}

/// What a node shows: its label on the first line, what it is on the second. `output` names
/// the output tensor whose grad_fn an operation is, if it is one.
fn node_text(node: &crate::nn::graph::Node, output: Option<&str>) -> (String, &'static Look, bool) {
    match node.kind {
        NodeKind::Tensor => (format!("{}\noutput", node.label), &OUTPUT, false),
        NodeKind::Leaf => (format!("{}\nleaf", node.label), &LEAF, true),
        NodeKind::Operation if node.name == "AccumulateGrad" => {
            let into = node
                .tensor
                .as_deref()
                .map_or("adds into .grad".to_string(), |t| {
                    format!("adds into {t}.grad")
                });
            (format!("AccumulateGrad\n{into}"), &ACCUMULATE, false)
        }
        NodeKind::Operation => {
            let short = node
                .label
                .split(" (")
                .next()
                .unwrap_or(&node.label)
                .to_string();
            let second = match node.tensor.as_deref().or(output) {
                Some(t) => format!("{t}.grad_fn"),
                None => "grad_fn".to_string(),
            };
            (format!("{short}\n{second}"), &OPERATION, false)
        }
    }
}

fn text_size(metrics: &Metrics, text: &str) -> (f64, f64) {
    let mut width: f64 = 0.0;
    let mut height = 0.0;
    for (i, line) in text.lines().enumerate() {
        let size = if i == 0 { FONT_SIZE } else { SMALL };
        width = width.max(metrics.width(line, size, i == 0));
        height += size * LINE;
    }
    (width, height)
}

/// One graph laid out by layout-rs and rendered to SVG elements, with its size. layout-rs
/// may put a node's inputs in either order (a layout and its mirror image cross as few edges);
/// the picture keeps the order of the text (`grad_fn.next_functions`) where it matters most,
/// at the first node from the output down with two inputs: when the layout puts them the
/// other way round, it is drawn mirrored.
fn render_graph(metrics: &Metrics, graph: &Graph) -> Canvas {
    let (mut vg, handles) = visual_graph(metrics, graph);
    let mut canvas = Canvas::new(None);
    vg.do_it(false, false, false, &mut canvas);
    let first_pair = (0..graph.nodes.len()).find_map(|from| {
        let mut inputs = graph.edges.iter().filter(|e| e.from == from);
        Some((inputs.next()?.to?, inputs.next()?.to?))
    });
    if let Some((first, second)) = first_pair {
        let x = |node: usize| vg.pos(handles[node]).center().x;
        if x(first) > x(second) {
            let axis = canvas.min.0 + canvas.max.0;
            let (mut vg, _) = visual_graph(metrics, graph);
            canvas = Canvas::new(Some(axis));
            vg.do_it(false, false, false, &mut canvas);
        }
    }
    canvas
}

/// The graph as layout-rs takes it, and the handle of each of `graph.nodes`.
fn visual_graph(
    metrics: &Metrics,
    graph: &Graph,
) -> (VisualGraph, Vec<layout::adt::dag::NodeHandle>) {
    let mut vg = VisualGraph::new(Orientation::TopToBottom);
    let mut handles = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let output = graph
            .edges
            .iter()
            .find(|e| e.to == Some(i) && graph.nodes[e.from].kind == NodeKind::Tensor)
            .map(|e| graph.nodes[e.from].name.as_str());
        let (text, look, round) = node_text(node, output);
        let (w, h) = text_size(metrics, &text);
        let style = StyleAttr::new(Color::fast("black"), 2, None, 8, FONT_SIZE as usize);
        let (shape, size) = if round {
            // An ellipse around the text: wider and taller than its box, so no corner is cut.
            (
                ShapeKind::Circle(text),
                Point::new(w * 1.3 + 28.0, h * 1.3 + 14.0),
            )
        } else {
            (ShapeKind::Box(text), Point::new(w + 28.0, h + 16.0))
        };
        let element = Element::create_with_properties(
            shape,
            style,
            Orientation::TopToBottom,
            size,
            fill_attrs(look, false),
        );
        handles.push(vg.add_node(element));
    }
    // `None` targets: a small dashed box of their own per edge, as next_functions lists them.
    for edge in &graph.edges {
        let (to, dashed) = match edge.to {
            Some(t) => (handles[t], false),
            None => {
                let text = "None\nno gradient".to_string();
                let (w, h) = text_size(metrics, &text);
                let style = StyleAttr::new(Color::fast("black"), 1, None, 4, FONT_SIZE as usize);
                let element = Element::create_with_properties(
                    ShapeKind::Box(text),
                    style,
                    Orientation::TopToBottom,
                    Point::new(w + 20.0, h + 10.0),
                    fill_attrs(&NONE, true),
                );
                (vg.add_node(element), true)
            }
        };
        let style = StyleAttr::new(Color::fast("black"), 2, None, 0, SMALL as usize);
        let line = if dashed {
            LineStyleKind::Dashed
        } else {
            LineStyleKind::Normal
        };
        let arrow = Arrow::new(
            LineEndKind::None,
            LineEndKind::Arrow,
            line,
            "",
            &style,
            &None,
            &None,
        );
        vg.add_edge(arrow, handles[edge.from], to);
    }
    (vg, handles)
}

/// One legend entry: a swatch and its text.
struct Entry {
    look: &'static Look,
    shape: &'static str,
    title: &'static str,
    note: &'static str,
}

const LEGEND: [Entry; 5] = [
    Entry {
        look: &OUTPUT,
        shape: "box",
        title: "output tensor",
        note: "backward() starts here with dy/dy = 1",
    },
    Entry {
        look: &OPERATION,
        shape: "box",
        title: "operation (grad_fn)",
        note: "a tensor it makes is no leaf, and requires grad because a leaf does",
    },
    Entry {
        look: &ACCUMULATE,
        shape: "box",
        title: "AccumulateGrad",
        note: "adds into the leaf's .grad: gradients accumulate until zeroed",
    },
    Entry {
        look: &LEAF,
        shape: "ellipse",
        title: "leaf tensor (requires_grad=True)",
        note: "keeps its .grad; an in-place change such as w.add_(1) is refused",
    },
    Entry {
        look: &NONE,
        shape: "dashed",
        title: "None",
        note: "an input that gets no gradient (a constant, a detached tensor)",
    },
];

/// The most nodes a picture shows. layout-rs's layout grows about as the fourth power of the
/// graph (a chain of additions, measured: 23 nodes 0.02 s, 43 nodes 0.3 s, 83 nodes 4 s, 163
/// nodes 97 s); a larger graph is refused at once with an error that names the limit, never
/// drawn for minutes. Its text (`Graph::lines`) and trace show any size. The lesson's graphs
/// have 9 and 6 nodes.
pub const MAX_NODES: usize = 50;

/// The whole picture: a title, the panels side by side, the legend underneath.
pub fn svg(title: &str, panels: &[(&str, &Graph)]) -> Result<String> {
    for (caption, graph) in panels {
        let n = graph.nodes.len();
        if n > MAX_NODES {
            anyhow::bail!(
                "cannot draw the graph of {caption}: {n} nodes, more than the {MAX_NODES} a picture shows (its text and --json show it whole)"
            );
        }
    }
    let metrics = Metrics::new()?;
    let canvases: Vec<Canvas> = panels
        .iter()
        .map(|(_, g)| render_graph(&metrics, g))
        .collect();
    let gap = 48.0;
    let title_h = 34.0;
    let caption_h = 30.0;
    let widths: Vec<f64> = panels
        .iter()
        .zip(&canvases)
        .map(|((caption, _), c)| c.size().0.max(metrics.width(caption, FONT_SIZE, true)))
        .collect();
    let graphs_h = canvases.iter().map(|c| c.size().1).fold(0.0, f64::max);

    let (legend_w, legend_h) = legend_size(&metrics);

    let content_w = widths.iter().sum::<f64>() + gap * (panels.len().saturating_sub(1)) as f64;
    let width = content_w
        .max(legend_w)
        .max(metrics.width(title, 17.0, true))
        + 2.0 * MARGIN;
    let height = MARGIN + title_h + caption_h + graphs_h + 28.0 + legend_h + MARGIN;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="{FONT_FAMILY}">"#,
        w = width.ceil(),
        h = height.ceil()
    );
    let _ = writeln!(
        out,
        r##"<defs><marker id="head" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto" markerUnits="userSpaceOnUse"><path d="M0,0 L10,4 L0,8 z" fill="#333333"/></marker><marker id="none-head" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto" markerUnits="userSpaceOnUse"><path d="M0,0 L10,4 L0,8 z" fill="{}"/></marker></defs>"##,
        NONE.stroke
    );
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>"#
    );
    text_block(&mut out, width / 2.0, MARGIN + 10.0, &[title], 17.0);

    // Panels, centred in the width they share.
    let mut x = (width - content_w) / 2.0;
    let top = MARGIN + title_h;
    for (((caption, _), canvas), w) in panels.iter().zip(&canvases).zip(&widths) {
        text_block(&mut out, x + w / 2.0, top + 10.0, &[caption], FONT_SIZE);
        let (cw, _) = canvas.size();
        let dx = x + (w - cw) / 2.0 - canvas.min.0;
        let dy = top + caption_h - canvas.min.1;
        let _ = writeln!(
            out,
            r#"<g transform="translate({dx:.1},{dy:.1})">{}</g>"#,
            canvas.body
        );
        x += w + gap;
    }

    // The legend, in a light frame.
    let ly = top + caption_h + graphs_h + 28.0;
    draw_legend(
        &mut out,
        (width - legend_w) / 2.0 - 12.0,
        ly,
        (legend_w, legend_h),
    );
    out.push_str("</svg>\n");
    Ok(out)
}

/// The legend's rows: a swatch, the title in bold, the note after it.
const ROW_H: f64 = 30.0;
const SWATCH: f64 = 42.0;
const ARROW_NOTE: &str = "arrows point the way gradients flow, from the output to the leaves";

/// The legend's width and height.
fn legend_size(metrics: &Metrics) -> (f64, f64) {
    let legend_w = LEGEND
        .iter()
        .map(|e| {
            SWATCH
                + 12.0
                + metrics.width(e.title, 14.0, true)
                + metrics.width(&format!(": {}", e.note), 14.0, false)
        })
        .fold(0.0, f64::max);
    let legend_w = legend_w.max(SWATCH + 12.0 + metrics.width(ARROW_NOTE, 14.0, false));
    let legend_h = ROW_H * (LEGEND.len() + 1) as f64 + 16.0;
    (legend_w, legend_h)
}

/// The legend at (`lx`, `ly`), in a light frame: a row per look, then the arrow.
fn draw_legend(out: &mut String, lx: f64, ly: f64, (legend_w, legend_h): (f64, f64)) {
    let _ = writeln!(
        out,
        r##"<rect x="{lx:.1}" y="{ly:.1}" width="{:.1}" height="{legend_h:.1}" rx="6" fill="#fafafa" stroke="#cccccc"/>"##,
        legend_w + 24.0
    );
    let mut y = ly + 8.0 + ROW_H / 2.0;
    let sx = lx + 12.0;
    for e in &LEGEND {
        let attrs = fill_attrs(e.look, e.shape == "dashed");
        match e.shape {
            "ellipse" => {
                let _ = writeln!(
                    out,
                    r#"<ellipse cx="{:.1}" cy="{y:.1}" rx="{:.1}" ry="10" stroke-width="2" {attrs}/>"#,
                    sx + SWATCH / 2.0,
                    SWATCH / 2.0
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    r#"<rect x="{sx:.1}" y="{:.1}" width="{SWATCH}" height="20" rx="6" stroke-width="2" {attrs}/>"#,
                    y - 10.0
                );
            }
        }
        let tx = sx + SWATCH + 12.0;
        let _ = writeln!(
            out,
            r##"<text x="{tx:.1}" y="{:.1}" font-size="14" fill="#111111"><tspan font-weight="bold">{}</tspan>: {}</text>"##,
            y + 5.0,
            escape(e.title),
            escape(e.note)
        );
        y += ROW_H;
    }
    let _ = writeln!(
        out,
        r##"<path d="M {sx:.1} {y:.1} L {:.1} {y:.1}" stroke="#333333" stroke-width="2" marker-end="url(#head)"/>"##,
        sx + SWATCH
    );
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="14" fill="#111111">{}</text>"##,
        sx + SWATCH + 12.0,
        y + 5.0,
        escape(ARROW_NOTE)
    );
}

/// The SVG rasterised ([`crate::io::plot::rasterise`]) at 1.5 times its size.
pub fn png(svg: &str) -> Result<Vec<u8>> {
    crate::io::plot::rasterise(svg, PNG_SCALE)
}

/// Draws `panels` to `path`, SVG or PNG by its extension, written atomically.
pub fn draw(path: &Path, title: &str, panels: &[(&str, &Graph)]) -> Result<()> {
    let format = plot_format(path)?;
    let svg = svg(title, panels)?;
    let bytes = match format {
        PlotFormat::Svg => svg.into_bytes(),
        PlotFormat::Png => png(&svg)?,
    };
    crate::io::files::write_atomic(path, |w| Ok(w.write_all(&bytes)?))
}

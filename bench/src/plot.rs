//! Minimal dependency-free SVG line charts (deterministic output: fixed formatting).

use std::fmt::Write as _;

const W: f64 = 720.0;
const H: f64 = 400.0;
const ML: f64 = 70.0;
const MR: f64 = 170.0;
const MT: f64 = 40.0;
const MB: f64 = 50.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// A line chart; `markers` draws a dot at each point.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    markers: bool,
) -> String {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let x_min = xs.clone().fold(f64::INFINITY, f64::min).min(0.0);
    let x_max = nice_max(xs.fold(0.0, f64::max));
    let y_max = nice_max(ys.fold(0.0, f64::max));
    let pw = W - ML - MR;
    let ph = H - MT - MB;
    let sx = |x: f64| ML + (x - x_min) / (x_max - x_min).max(1e-12) * pw;
    let sy = |y: f64| MT + ph - y / y_max * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{:.1}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
        W / 2.0,
        esc(title)
    );
    for i in 0..=5 {
        let v = y_max * i as f64 / 5.0;
        let y = sy(v);
        let _ = writeln!(
            s,
            "<line x1=\"{ML}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            ML + pw,
            ML - 6.0,
            y + 4.0,
            fmt_tick(v)
        );
        let xv = x_min + (x_max - x_min) * i as f64 / 5.0;
        let x = sx(xv);
        let _ = writeln!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            MT + ph + 16.0,
            fmt_tick(xv)
        );
    }
    let _ = writeln!(
        s,
        "<rect x=\"{ML}\" y=\"{MT}\" width=\"{pw:.1}\" height=\"{ph:.1}\" fill=\"none\" stroke=\"#333\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"16\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">{}</text>",
        ML + pw / 2.0,
        H - 12.0,
        esc(x_label),
        MT + ph / 2.0,
        MT + ph / 2.0,
        esc(y_label)
    );
    for (i, se) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let pts: Vec<String> = se
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            pts.join(" ")
        );
        if markers {
            for &(x, y) in &se.points {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{c}\"/>",
                    sx(x),
                    sy(y)
                );
            }
        }
        let ly = MT + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{c}\" stroke-width=\"3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            W - MR + 12.0,
            W - MR + 32.0,
            W - MR + 38.0,
            ly + 4.0,
            esc(&se.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A heat map: one column per time step, one row per partition (row 0 at the top), colour
/// from white (0) to dark red (`max` or more). `rows[t][p]` is the value of partition `p` at
/// step `t`; every step must have the same number of partitions.
pub fn heatmap(title: &str, x_label: &str, step: f64, cols: &[Vec<f64>], max: f64) -> String {
    let n = cols.first().map_or(0, |c| c.len()).max(1);
    let t = cols.len().max(1);
    let pw = W - ML - MR;
    let ph = H - MT - MB;
    let cw = pw / t as f64;
    let rh = ph / n as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{:.1}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
        W / 2.0,
        esc(title)
    );
    let colour = |v: f64| {
        let f = (v / max.max(1e-12)).clamp(0.0, 1.0);
        let g = (255.0 * (1.0 - f)).round() as u8;
        let r = (255.0 - 115.0 * f.powi(2)).round() as u8;
        format!("#{r:02x}{g:02x}{g:02x}")
    };
    for (ti, col) in cols.iter().enumerate() {
        for (pi, v) in col.iter().enumerate() {
            let _ = writeln!(
                s,
                "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\" fill=\"{}\"/>",
                ML + ti as f64 * cw,
                MT + pi as f64 * rh,
                cw + 0.05,
                rh + 0.05,
                colour(*v)
            );
        }
    }
    for i in 0..=5 {
        let x = ML + pw * i as f64 / 5.0;
        let _ = writeln!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            MT + ph + 16.0,
            fmt_tick(step * t as f64 * i as f64 / 5.0)
        );
    }
    let _ = writeln!(
        s,
        "<rect x=\"{ML}\" y=\"{MT}\" width=\"{pw:.1}\" height=\"{ph:.1}\" fill=\"none\" stroke=\"#333\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"16\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">partition (0 at top)</text>",
        ML + pw / 2.0,
        H - 12.0,
        esc(x_label),
        MT + ph / 2.0,
        MT + ph / 2.0,
    );
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let y = MT + 10.0 + 22.0 * i as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"18\" height=\"18\" fill=\"{}\" stroke=\"#333\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}{}× mean</text>",
            W - MR + 12.0,
            colour(v),
            W - MR + 36.0,
            y + 13.0,
            if i == 4 { "≥ " } else { "" },
            fmt_tick(v)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_is_well_formed_and_deterministic() {
        let s = vec![Series {
            name: "a<b".into(),
            points: vec![(0.0, 0.0), (10.0, 0.5)],
        }];
        let a = line_chart("t", "x", "y", &s, true);
        assert_eq!(a, line_chart("t", "x", "y", &s, true));
        assert!(a.starts_with("<svg") && a.ends_with("</svg>\n"));
        assert!(a.contains("a&lt;b") && a.contains("<polyline"));
        assert_eq!(nice_max(0.37), 0.5);
        let h = heatmap("h", "t", 10.0, &[vec![0.0, 1.0], vec![2.0, 0.5]], 2.0);
        assert_eq!(h.matches("<rect x=").count(), 4 + 1 + 5);
        assert!(h.contains("#ffffff") && h.contains("#8c0000"));
        assert_eq!(nice_max(1200.0), 2000.0);
    }
}

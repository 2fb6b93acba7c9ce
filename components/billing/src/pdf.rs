//! An invoice as a PDF: PDF 1.4 written by hand (one standard font,
//! Helvetica, in WinAnsi encoding, so nothing is embedded), A4 pages of text
//! lines, the line items continued on as many pages as they need.

use crate::calendar;
use crate::invoices::Invoice;
use crate::money;

const PAGE_WIDTH: i32 = 595;
const PAGE_HEIGHT: i32 = 842;
const MARGIN: i32 = 56;
const LINE_HEIGHT: i32 = 16;
const ITEMS_PER_PAGE: usize = 36;

/// One line of text at a position and size.
struct Text {
    x: i32,
    y: i32,
    size: i32,
    text: String,
}

/// `seller` is the platform's name, shown at the top.
pub fn render(invoice: &Invoice, seller: &str) -> Vec<u8> {
    let money = |amount: i64| money::display(amount, &invoice.currency);
    let mut pages: Vec<Vec<Text>> = Vec::new();
    let chunks: Vec<_> = invoice.lines.chunks(ITEMS_PER_PAGE).collect();
    let page_count = chunks.len().max(1);
    for index in 0..page_count {
        let mut page = Vec::new();
        let mut y = PAGE_HEIGHT - MARGIN;
        let line = |page: &mut Vec<Text>, x: i32, y: i32, size: i32, text: String| {
            page.push(Text { x, y, size, text });
        };
        line(&mut page, MARGIN, y, 18, seller.to_string());
        y -= 28;
        line(
            &mut page,
            MARGIN,
            y,
            14,
            format!("Invoice {}", invoice.number),
        );
        line(
            &mut page,
            PAGE_WIDTH - MARGIN - 90,
            y,
            10,
            format!("Page {} of {page_count}", index + 1),
        );
        y -= LINE_HEIGHT + 4;
        for (label, value) in [
            ("Issued", calendar::date(invoice.issued_at_ms)),
            ("Due", calendar::date(invoice.due_at_ms)),
            ("Status", invoice.status.clone()),
            ("Customer", invoice.account.clone()),
        ] {
            line(&mut page, MARGIN, y, 10, format!("{label}: {value}"));
            y -= LINE_HEIGHT;
        }
        y -= LINE_HEIGHT;
        line(&mut page, MARGIN, y, 10, "Description".into());
        line(&mut page, 360, y, 10, "Qty".into());
        line(&mut page, 400, y, 10, "Unit".into());
        line(&mut page, 480, y, 10, "Amount".into());
        y -= LINE_HEIGHT;
        for item in chunks.get(index).copied().unwrap_or_default() {
            let description: String = item.description.chars().take(55).collect();
            line(&mut page, MARGIN, y, 10, description);
            line(&mut page, 360, y, 10, item.quantity.to_string());
            line(&mut page, 400, y, 10, money(item.unit_amount));
            line(&mut page, 480, y, 10, money(item.amount));
            y -= LINE_HEIGHT;
        }
        if index + 1 == page_count {
            y -= LINE_HEIGHT;
            let rate = format!(
                "Tax ({}.{:02}%)",
                invoice.tax_rate / 100,
                invoice.tax_rate % 100
            );
            for (label, amount) in [
                ("Subtotal".to_string(), invoice.subtotal),
                (rate, invoice.tax),
                ("Total".to_string(), invoice.total),
            ] {
                line(&mut page, 360, y, 11, label);
                line(&mut page, 480, y, 11, money(amount));
                y -= LINE_HEIGHT;
            }
        }
        pages.push(page);
    }
    write(&pages)
}

/// A PDF string literal's body in WinAnsi: `(`, `)` and `\` escaped,
/// Latin-1 kept, anything else `?`.
fn literal(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push(b'\\');
                out.push(c as u8);
            }
            ' '..='~' => out.push(c as u8),
            '\u{a0}'..='\u{ff}' => out.push(c as u32 as u8),
            '€' => out.push(0x80),
            _ => out.push(b'?'),
        }
    }
    out
}

fn write(pages: &[Vec<Text>]) -> Vec<u8> {
    // Objects: 1 catalog, 2 page tree, 3 font, then a page and its content
    // stream for each page.
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", 4 + 2 * i))
        .collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        )
        .into_bytes(),
    );
    objects.push(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    );
    for (i, page) in pages.iter().enumerate() {
        let mut content = Vec::new();
        for text in page {
            content.extend_from_slice(
                format!("BT /F1 {} Tf {} {} Td (", text.size, text.x, text.y).as_bytes(),
            );
            content.extend_from_slice(&literal(&text.text));
            content.extend_from_slice(b") Tj ET\n");
        }
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
                 /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                5 + 2 * i
            )
            .into_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(&content);
        stream.extend_from_slice(b"endstream");
        objects.push(stream);
    }
    let mut pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend_from_slice(object);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoices::Line;

    fn invoice(lines: usize) -> Invoice {
        Invoice {
            id: "i".into(),
            number: "2026-000007".into(),
            account: "a".into(),
            subscription_id: None,
            currency: "EUR".into(),
            lines: (0..lines)
                .map(|n| Line {
                    description: format!("Item (n) {n}"),
                    quantity: 1,
                    unit_amount: 100,
                    amount: 100,
                })
                .collect(),
            subtotal: 100 * lines as i64,
            tax_rate: 2000,
            tax: 20 * lines as i64,
            total: 120 * lines as i64,
            status: "open".into(),
            issued_at_ms: 0,
            due_at_ms: 0,
            paid_at_ms: None,
            provider: "manual".into(),
            attempts: 0,
            next_attempt_at_ms: None,
        }
    }

    #[test]
    fn the_cross_reference_table_points_at_every_object() {
        let pdf = render(&invoice(80), "Folio");
        let at = |from: usize, needle: &[u8]| -> bool { pdf[from..].starts_with(needle) };
        let tail = String::from_utf8_lossy(&pdf[pdf.len() - 40..]).into_owned();
        let xref: usize = tail
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(at(xref, b"xref\n"));
        let table = String::from_utf8_lossy(&pdf[xref..]).into_owned();
        let offsets: Vec<usize> = table
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
            .map(|l| l[..10].parse().unwrap())
            .collect();
        // 80 items: three pages, each a page object and a content stream.
        assert_eq!(offsets.len(), 3 + 2 * 3);
        for (i, offset) in offsets.into_iter().enumerate() {
            assert!(
                at(offset, format!("{} 0 obj", i + 1).as_bytes()),
                "object {}",
                i + 1
            );
        }
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Count 3"));
        assert!(text.contains("(Item \\(n\\) 0)"));
    }

    #[test]
    fn text_outside_win_ansi_is_replaced() {
        assert_eq!(
            literal("a(b)\\ é € 日"),
            b"a\\(b\\)\\\\ \xe9 \x80 ?".to_vec()
        );
    }
}

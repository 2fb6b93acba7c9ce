//! The media service's black-box flows, shared by `tests/media.rs` (the
//! host, on disk and on S3) and `tests/spin.rs` (under Spin): images made in
//! Wasm, audio and video through real ffmpeg, delivery with ranges and
//! transforms, refusals, resumable uploads, deletion.

use std::io::Cursor;
use std::time::Duration;

use image::{ImageFormat, RgbImage};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::media::{MediaHost, ffmpeg, probe, test_audio, test_video};
use crate::reqwest;
use crate::services::{events_about, unique};
use crate::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, client};

pub const IMAGE_WAIT: Duration = Duration::from_secs(60);
pub const VIDEO_WAIT: Duration = Duration::from_secs(240);

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        bytes: response.bytes().await.unwrap().to_vec(),
    }
}

pub fn new_uuid() -> String {
    folio_guest::util::new_id()
}

pub async fn put(
    mh: &MediaHost,
    token: &str,
    id: &str,
    filename: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    send(
        client()
            .put(
                mh.host
                    .url(&format!("/api/v1/media/{id}?filename={filename}")),
            )
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

/// GET without following redirects: redirect delivery is what some tests check.
pub async fn get(mh: &MediaHost, path: &str, headers: &[(&str, &str)]) -> Reply {
    let direct = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = direct.get(mh.host.url(path));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    send(request).await
}

pub fn photo(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width) as u8,
            (y * 255 / height) as u8,
            ((x ^ y) & 0xff) as u8,
        ])
    })
}

pub fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// The EXIF IFD entry "orientation 6: rotate 90° clockwise to view".
pub const ORIENTATION_6: [u8; 12] = [0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0];

/// A camera-like JPEG: EXIF with orientation 6, and XMP naming where it was taken.
pub fn jpeg_with_orientation_6(image: &RgbImage) -> Vec<u8> {
    let jpeg = encode(image, ImageFormat::Jpeg);
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    exif.extend_from_slice(&ORIENTATION_6);
    exif.extend_from_slice(&[0, 0, 0, 0]);
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>secret-location</x:xmpmeta>".to_vec();
    let mut out = jpeg[..2].to_vec();
    for segment in [exif, xmp] {
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((segment.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&segment);
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A valid PNG header declaring `width`×`height` with almost no data: a decompression bomb.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn dimensions(bytes: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(bytes).expect("a decodable image");
    (image.width(), image.height())
}

pub async fn assert_nothing_stored(mh: &MediaHost, id: &str) {
    assert_eq!(
        mh.stored_keys(&format!("media/{id}/")).await,
        Vec::<String>::new(),
        "objects of {id} are left"
    );
}

/// Upload, refusals, image processing and delivery.
pub async fn images(mh: &MediaHost, redirect: bool) {
    let api = mh.api();
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (cora, cora_id) = api.user_with_role(&admin, "cora", "creator", &run).await;
    let (carl, _) = api.user_with_role(&admin, "carl", "creator", &run).await;
    let (dan, _) = api.user_with_role(&admin, "dan", "consumer", &run).await;

    // A camera JPEG: landscape pixels with EXIF orientation 6, sent with a wrong Content-Type.
    let original = jpeg_with_orientation_6(&photo(1200, 800));
    let id = new_uuid();
    let r = put(
        mh,
        &cora,
        &id,
        "holiday.jpg",
        "application/octet-stream",
        original.clone(),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let m = r.json();
    assert_eq!(r.header("location"), format!("/api/v1/media/{id}"));
    assert_eq!(m["kind"], "image");
    assert_eq!(m["mime"], "image/jpeg", "the type comes from the bytes");
    assert_eq!(m["ownerId"], cora_id.as_str());
    assert_eq!(m["size"], original.len());
    assert_eq!(
        m["checksum"],
        format!("sha256:{:x}", Sha256::digest(&original))
    );
    assert_eq!(
        (m["width"].as_u64(), m["height"].as_u64()),
        (Some(800), Some(1200)),
        "upright"
    );
    assert_eq!(m["orientation"], 6);
    assert!(["uploaded", "processing", "ready"].contains(&m["status"].as_str().unwrap()));

    // The same id again is a conflict, never a replacement; others may not upload.
    assert_eq!(
        put(mh, &cora, &id, "x.jpg", "image/jpeg", original.clone())
            .await
            .status,
        409
    );
    assert_eq!(
        put(
            mh,
            &dan,
            &new_uuid(),
            "x.jpg",
            "image/jpeg",
            original.clone()
        )
        .await
        .status,
        403
    );
    let anonymous = send(
        client()
            .put(mh.host.url(&format!("/api/v1/media/{}", new_uuid())))
            .body(original.clone()),
    )
    .await;
    assert_eq!(anonymous.status, 401);
    // Before it is ready, only its owner (and admins) see it.
    let ready = mh.wait_ready(&id, &cora, IMAGE_WAIT).await;
    assert_eq!(ready["processing"]["attempts"], 1);

    let renditions = ready["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 8, "{renditions:?}");
    for (name, width, height) in [
        ("thumbnail", 160, 160),
        ("small", 213, 320),
        ("medium", 533, 800),
        ("large", 800, 1200),
    ] {
        for (extension, mime) in [("jpg", "image/jpeg"), ("webp", "image/webp")] {
            let file = format!("{name}.{extension}");
            let listed = renditions
                .iter()
                .find(|r| r["name"] == file.as_str())
                .unwrap_or_else(|| panic!("{file}"));
            assert_eq!(
                (listed["width"].as_u64(), listed["height"].as_u64()),
                (Some(width), Some(height)),
                "{file}"
            );
            let served = get(mh, listed["url"].as_str().unwrap(), &[]).await;
            if redirect {
                assert_eq!(served.status, 302);
                continue;
            }
            assert_eq!(served.status, 200, "{file}");
            assert_eq!(served.header("content-type"), mime);
            assert_eq!(
                dimensions(&served.bytes),
                (width as u32, height as u32),
                "{file}"
            );
            assert_eq!(served.bytes.len() as u64, listed["size"].as_u64().unwrap());
        }
    }
    assert_eq!(
        get(mh, &format!("/api/v1/media/{id}/renditions/huge.jpg"), &[])
            .await
            .status,
        404
    );

    // The served original has lost its EXIF segment but not its pixels.
    let content_path = format!("/api/v1/media/{id}/content");
    let served = if redirect {
        let r = get(mh, &content_path, &[]).await;
        assert_eq!(r.status, 302, "redirect delivery");
        // The presigned URL expires: no stale serving, no surrogate keys.
        assert_eq!(
            (
                r.header("cache-control"),
                r.header("surrogate-key"),
                r.header("cache-tag")
            ),
            ("public, max-age=600", "", "")
        );
        let location = r.header("location").to_string();
        assert!(
            location.starts_with(&mh.s3.as_ref().unwrap().endpoint),
            "{location}"
        );
        send(client().get(location)).await
    } else {
        get(mh, &content_path, &[]).await
    };
    assert_eq!(served.status, 200);
    assert!(
        !contains(&served.bytes, b"secret-location"),
        "metadata was stripped"
    );
    assert!(
        contains(&served.bytes, &ORIENTATION_6),
        "the orientation was kept"
    );
    assert!(served.bytes.len() < original.len());
    assert_eq!(dimensions(&served.bytes), (1200, 800));

    if !redirect {
        delivery_headers(mh, &id, &content_path, &served).await;
        transforms(mh, &id).await;
    }

    // Anyone may read a ready item; only its owner and admins list it.
    let metadata = api.get(&format!("/api/v1/media/{id}"), None).await;
    assert_eq!(metadata.status, 200);
    let (media_key, media_tag) = (format!("media:{id} media"), format!("media:{id},media"));
    assert_eq!(
        (
            metadata.headers["cache-control"].to_str().unwrap(),
            metadata.headers["surrogate-key"].to_str().unwrap(),
            metadata.headers["cache-tag"].to_str().unwrap(),
        ),
        (
            "public, max-age=60, stale-while-revalidate=300, stale-if-error=86400",
            media_key.as_str(),
            media_tag.as_str()
        )
    );
    let listed = api.get("/api/v1/media?kind=image", Some(&cora)).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["ownerId"] == cora_id.as_str())
    );
    assert_eq!(
        api.get("/api/v1/media", Some(&carl)).await.body["items"],
        json!([])
    );
    assert_eq!(api.get("/api/v1/media", Some(&dan)).await.status, 403);
    let bad = api.get("/api/v1/media?kind=sculpture", Some(&cora)).await;
    assert_eq!(
        (bad.status, bad.body["errors"][0]["field"].as_str()),
        (422, Some("kind"))
    );

    // A PNG through a multipart form, with a text chunk naming its author
    // (after the signature and IHDR; PNG decoders skip unknown text).
    let plain = encode(&photo(300, 200), ImageFormat::Png);
    let mut png = plain[..33].to_vec();
    let text = b"Author\0secret-author";
    png.extend_from_slice(&(text.len() as u32).to_be_bytes());
    png.extend_from_slice(b"tEXt");
    png.extend_from_slice(text);
    let mut crc_input = b"tEXt".to_vec();
    crc_input.extend_from_slice(text);
    png.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    png.extend_from_slice(&plain[33..]);
    let form = reqwest::multipart::Form::new()
        .text("title", "ignored")
        .part(
            "file",
            reqwest::multipart::Part::bytes(png.clone())
                .file_name("diagram.png")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let r = send(
        client()
            .post(mh.host.url("/api/v1/media"))
            .bearer_auth(&cora)
            .multipart(form),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let png_id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        (r.json()["mime"].as_str(), r.json()["filename"].as_str()),
        (Some("image/png"), Some("diagram.png"))
    );
    let listed = api.get("/api/v1/media?limit=1", Some(&cora)).await;
    assert_eq!(
        listed.body["items"][0]["id"],
        png_id.as_str(),
        "newest first"
    );
    let next = listed.body["_links"]["next"].as_str().expect("a next page");
    assert_eq!(
        api.get(next, Some(&cora)).await.body["items"][0]["id"],
        id.as_str()
    );
    mh.wait_ready(&png_id, &cora, IMAGE_WAIT).await;
    let mut served = get(mh, &format!("/api/v1/media/{png_id}/content"), &[]).await;
    if served.status == 302 {
        served = send(client().get(served.header("location"))).await;
    }
    assert_eq!(served.status, 200);
    assert!(
        !contains(&served.bytes, b"secret-author"),
        "the PNG's text chunk was stripped"
    );
    assert_eq!(dimensions(&served.bytes), (300, 200));

    refusals(mh, &cora, &original).await;

    // Deletion: the record at once, every object soon after.
    assert_eq!(
        api.call("DELETE", &format!("/api/v1/media/{id}"), Some(&carl), None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.call("DELETE", &format!("/api/v1/media/{id}"), Some(&cora), None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.get(&format!("/api/v1/media/{id}"), Some(&cora))
            .await
            .status,
        404
    );
    wait_until_nothing_stored(mh, &id).await;
    if !mh.records_events {
        return;
    }
    let events = events_about(
        &mh.host,
        &id,
        &[
            "folio.media.MediaUploaded",
            "folio.media.MediaProcessed",
            "folio.media.MediaDeleted",
        ],
    )
    .await;
    assert!(
        events
            .iter()
            .all(|e| !e[3].as_str().unwrap().contains("holiday")),
        "events carry no file names"
    );
}

pub async fn wait_until_nothing_stored(mh: &MediaHost, id: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !mh.stored_keys(&format!("media/{id}/")).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "objects of {id} are left after deletion"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a CDN may keep of a ready item's file: a day, served stale while it
/// revalidates, under the item's surrogate keys.
pub fn assert_shared_file(r: &Reply, id: &str) {
    assert_eq!(
        (
            r.header("cache-control"),
            r.header("surrogate-key"),
            r.header("cache-tag")
        ),
        (
            "public, max-age=86400, stale-while-revalidate=300, stale-if-error=86400",
            format!("media:{id} media").as_str(),
            format!("media:{id},media").as_str()
        ),
        "status {}",
        r.status
    );
}

pub async fn delivery_headers(mh: &MediaHost, id: &str, path: &str, full: &Reply) {
    let size = full.bytes.len();
    let etag = full.header("etag").to_string();
    assert!(etag.starts_with('"'), "{etag}");
    assert_eq!(full.header("accept-ranges"), "bytes");
    assert_shared_file(full, id);
    assert_eq!(full.header("x-content-type-options"), "nosniff");
    assert!(full.header("last-modified").ends_with(" GMT"));
    assert!(full.header("content-disposition").contains("holiday.jpg"));

    let r = get(mh, path, &[("range", "bytes=0-99")]).await;
    assert_eq!((r.status, r.bytes.as_slice()), (206, &full.bytes[..100]));
    assert_eq!(r.header("content-range"), format!("bytes 0-99/{size}"));
    let r = get(mh, path, &[("range", "bytes=-10")]).await;
    assert_eq!(
        (r.status, r.bytes.as_slice()),
        (206, &full.bytes[size - 10..])
    );
    let r = get(mh, path, &[("range", &format!("bytes={}-", size - 5))]).await;
    assert_eq!((r.status, r.bytes.len()), (206, 5));
    let r = get(mh, path, &[("range", &format!("bytes={size}-"))]).await;
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, format!("bytes */{size}").as_str())
    );
    // A stale If-Range gets the whole object; several ranges too.
    let r = get(
        mh,
        path,
        &[("range", "bytes=0-9"), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!((r.status, r.bytes.len()), (200, size));
    let r = get(mh, path, &[("range", "bytes=0-1,5-6")]).await;
    assert_eq!(r.status, 200);
    let r = get(mh, path, &[("if-none-match", &etag)]).await;
    assert_eq!(
        (r.status, r.bytes.len(), r.header("etag")),
        (304, 0, etag.as_str())
    );
    assert_shared_file(&r, id);
    let r = send(client().head(mh.host.url(path))).await;
    assert_eq!(
        (r.status, r.bytes.len(), r.header("content-length")),
        (200, 0, size.to_string().as_str())
    );
}

pub async fn transforms(mh: &MediaHost, id: &str) {
    let path = format!("/api/v1/media/{id}/content?w=320&h=320&fit=cover&fmt=webp");
    let first = get(mh, &path, &[]).await;
    assert_eq!(first.status, 200, "{:?}", first.json());
    assert_eq!(
        (
            first.header("content-type"),
            first.header("x-folio-transform")
        ),
        ("image/webp", "miss")
    );
    assert_shared_file(&first, id);
    assert_eq!(dimensions(&first.bytes), (320, 320));
    let again = get(mh, &path, &[]).await;
    assert_eq!(
        (again.status, again.header("x-folio-transform")),
        (200, "hit")
    );
    assert_eq!(again.bytes, first.bytes);
    let by_width = get(mh, &format!("/api/v1/media/{id}/content?w=160"), &[]).await;
    assert_eq!(
        dimensions(&by_width.bytes),
        (160, 240),
        "one side keeps the aspect ratio"
    );
    for (query, field) in [
        ("w=333", "w"),
        ("w=160&fit=squash", "fit"),
        ("w=160&fmt=tiff", "fmt"),
        ("fit=cover", "w"),
    ] {
        let r = get(mh, &format!("/api/v1/media/{id}/content?{query}"), &[]).await;
        assert_eq!(
            (r.status, r.json()["errors"][0]["field"].as_str()),
            (422, Some(field)),
            "{query}"
        );
    }
}

/// Each refusal is a clear 4xx naming the file, and leaves nothing stored.
pub async fn refusals(mh: &MediaHost, token: &str, good_jpeg: &[u8]) {
    let html = b"<!doctype html><script>alert(1)</script>".to_vec();
    let truncated = good_jpeg[..good_jpeg.len() / 2].to_vec();
    let mut garbage_png = b"\x89PNG\r\n\x1a\n".to_vec();
    garbage_png.extend((0..4000u32).map(|i| (i * 7919 % 251) as u8));
    for (what, body, status) in [
        ("html named .jpg", html, 415),
        ("truncated jpeg", truncated, 422),
        ("png bomb", png_bomb(100_000, 100_000), 422),
        ("corrupt png", garbage_png, 422),
        ("empty", Vec::new(), 422),
    ] {
        let id = new_uuid();
        let r = put(mh, token, &id, "x.jpg", "image/jpeg", body).await;
        assert_eq!(r.status, status, "{what}: {:?}", r.json());
        assert_eq!(
            r.header("content-type"),
            "application/problem+json",
            "{what}"
        );
        assert!(
            r.json()["detail"].as_str().unwrap().starts_with("file"),
            "{what}: {:?}",
            r.json()
        );
        assert_eq!(
            mh.api()
                .get(&format!("/api/v1/media/{id}"), Some(token))
                .await
                .status,
            404,
            "{what}"
        );
        assert_nothing_stored(mh, &id).await;
    }
    let r = put(
        mh,
        token,
        &new_uuid(),
        "x.jpg",
        "image/jpeg",
        good_jpeg.to_vec(),
    )
    .await;
    assert_eq!(r.status, 201, "the service still takes good files");
}

/// Video and audio through ffmpeg; a truncated video is refused.
pub async fn audio_and_video(mh: &MediaHost) {
    let api = mh.api();
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (vera, _) = api.user_with_role(&admin, "vera", "creator", &run).await;
    let dir = tempfile::tempdir().unwrap();

    // A phone's clip: a title and the place it was shot in its metadata.
    let plain = test_video(dir.path(), "plain.mp4", 3, "1280x720");
    let tagged = dir.path().join("clip.mp4");
    ffmpeg(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata",
        "title=secret-title",
        "-metadata",
        "location=+51.5007-000.1246/",
        tagged.to_str().unwrap(),
    ]);
    let video = std::fs::read(&tagged).unwrap();
    // MP4 keeps the place as a binary `loci` box, whose body names "earth".
    assert!(contains(&video, b"secret-title") && contains(&video, b"earth"));
    let id = new_uuid();
    let r = put(mh, &vera, &id, "clip.mp4", "video/quicktime", video.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let m = r.json();
    assert_eq!(
        (m["kind"].as_str(), m["mime"].as_str()),
        (Some("video"), Some("video/mp4"))
    );
    assert_eq!(
        (m["width"].as_u64(), m["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert!(
        (2900..=3100).contains(&m["durationMs"].as_u64().unwrap()),
        "{m:?}"
    );

    let ready = mh.wait_ready(&id, &vera, VIDEO_WAIT).await;
    let renditions = ready["renditions"].as_array().unwrap();
    let named = |name: &str| {
        renditions
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {renditions:?}"))
            .clone()
    };
    for (name, width, height) in [("360p.mp4", 640, 360), ("720p.mp4", 1280, 720)] {
        let listed = named(name);
        let served = get(mh, listed["url"].as_str().unwrap(), &[]).await;
        assert_eq!(
            (served.status, served.header("content-type")),
            (200, "video/mp4"),
            "{name}"
        );
        let file = dir.path().join(name);
        std::fs::write(&file, &served.bytes).unwrap();
        let (w, h, duration) = probe(&file);
        assert_eq!((w, h), (Some(width), Some(height)), "{name}");
        assert!((2800..=3200).contains(&duration), "{name}: {duration} ms");
        let ranged = get(
            mh,
            listed["url"].as_str().unwrap(),
            &[("range", "bytes=0-1023")],
        )
        .await;
        assert_eq!(
            (ranged.status, ranged.bytes.as_slice()),
            (206, &served.bytes[..1024])
        );
    }
    // The original is served without its metadata, still the same video.
    let mut original = get(mh, &format!("/api/v1/media/{id}/content"), &[]).await;
    if original.status == 302 {
        original = send(client().get(original.header("location"))).await;
    }
    assert_eq!(original.status, 200);
    assert!(
        !contains(&original.bytes, b"secret-title") && !contains(&original.bytes, b"earth"),
        "the original's metadata was stripped"
    );
    let file = dir.path().join("original.mp4");
    std::fs::write(&file, &original.bytes).unwrap();
    let (w, h, duration) = probe(&file);
    assert_eq!((w, h), (Some(1280), Some(720)));
    assert!((2800..=3200).contains(&duration), "original: {duration} ms");
    assert!(
        !renditions
            .iter()
            .any(|r| r["name"].as_str().unwrap().contains("clean")),
        "{renditions:?}"
    );
    let poster = named("poster.jpg");
    let served = get(mh, poster["url"].as_str().unwrap(), &[]).await;
    assert_eq!(dimensions(&served.bytes), (1280, 720));
    let master = named("hls/master.m3u8");
    let playlist = get(mh, master["url"].as_str().unwrap(), &[]).await;
    assert_eq!(playlist.status, 200);
    let text = String::from_utf8(playlist.bytes).unwrap();
    assert!(
        text.contains("RESOLUTION=640x360") && text.contains("RESOLUTION=1280x720"),
        "{text}"
    );
    // Each variant playlist, and its first segment, resolve relative to the master.
    for variant in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let url = format!("/api/v1/media/{id}/renditions/hls/{variant}");
        let media_playlist = get(mh, &url, &[]).await;
        assert_eq!(media_playlist.status, 200, "{url}");
        let body = String::from_utf8(media_playlist.bytes).unwrap();
        let segment = body
            .lines()
            .find(|l| !l.starts_with('#') && !l.is_empty())
            .unwrap();
        let base = url.rsplit_once('/').unwrap().0;
        assert_eq!(
            get(mh, &format!("{base}/{segment}"), &[]).await.status,
            200,
            "{segment}"
        );
    }

    let audio = std::fs::read(test_audio(dir.path(), "tone.wav", 2)).unwrap();
    let r = put(mh, &vera, &new_uuid(), "tone.wav", "audio/wav", audio).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["kind"], "audio");
    let audio_id = r.json()["id"].as_str().unwrap().to_string();
    let ready = mh.wait_ready(&audio_id, &vera, VIDEO_WAIT).await;
    assert_eq!(ready["renditions"][0]["name"], "audio.m4a");
    assert!((1900..=2100).contains(&ready["renditions"][0]["durationMs"].as_u64().unwrap()));

    // The index of this MP4 is at its end: half of it is unreadable.
    let truncated_id = new_uuid();
    let r = put(
        mh,
        &vera,
        &truncated_id,
        "cut.mp4",
        "video/mp4",
        video[..video.len() / 2].to_vec(),
    )
    .await;
    assert_eq!(r.status, 422, "{:?}", r.json());
    assert_eq!(r.json()["errors"][0]["field"], "file");
    assert_nothing_stored(mh, &truncated_id).await;

    assert_eq!(
        api.call("DELETE", &format!("/api/v1/media/{id}"), Some(&vera), None)
            .await
            .status,
        204
    );
    wait_until_nothing_stored(mh, &id).await;
    // Its objects went after the commit, below its id: the id is not free.
    let again = put(mh, &vera, &id, "again.mp4", "video/mp4", video).await;
    assert_eq!(again.status, 409, "{:?}", again.json());
    assert_nothing_stored(mh, &id).await;
}

/// A tus request of the caller with `token`.
pub fn tus(request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    request.bearer_auth(token).header("tus-resumable", "1.0.0")
}

/// tus: an upload in parts, one of them cut off by a dropped connection.
pub async fn resumable(mh: &MediaHost) {
    let api = mh.api();
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (rita, _) = api.user_with_role(&admin, "rita", "creator", &run).await;
    let (carl, _) = api.user_with_role(&admin, "carl", "creator", &run).await;
    let png = encode(&photo(900, 700), ImageFormat::Png);
    let total = png.len();

    let options = send(client().request(
        reqwest::Method::OPTIONS,
        mh.host.url("/api/v1/media/uploads"),
    ))
    .await;
    assert_eq!(
        (options.status, options.header("tus-version")),
        (204, "1.0.0")
    );
    let created = send(
        tus(client().post(mh.host.url("/api/v1/media/uploads")), &rita)
            .header("upload-length", total.to_string())
            .header("upload-metadata", "filename cGxhbi5wbmc="),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let location = created.header("location").to_string();
    let patch = |offset: usize, body: reqwest::Body, token: &str| {
        tus(client().patch(mh.host.url(&location)), token)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(body)
    };

    let first = total / 3;
    let r = send(patch(0, png[..first].to_vec().into(), &rita)).await;
    assert_eq!(
        (r.status, r.header("upload-offset")),
        (204, first.to_string().as_str())
    );
    // A stale offset, another user, a wrong content type.
    assert_eq!(
        send(patch(0, png[..10].to_vec().into(), &rita))
            .await
            .status,
        409
    );
    assert_eq!(
        send(patch(first, png[first..first + 10].to_vec().into(), &carl))
            .await
            .status,
        404
    );
    let wrong_type = send(
        tus(client().patch(mh.host.url(&location)), &rita)
            .header("upload-offset", first.to_string())
            .body("x"),
    )
    .await;
    assert_eq!(wrong_type.status, 415);

    // The connection drops after 64 KiB of this part.
    let sent = png[first..first + 65536].to_vec();
    // The pause lets the host read the bytes before the reset: a reset
    // discards what the receiving socket had not yet read.
    let stream = futures_util::stream::unfold(0, move |step| {
        let sent = sent.clone();
        async move {
            match step {
                0 => Some((Ok(bytes::Bytes::from(sent)), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    Some((Err(std::io::Error::other("connection lost")), 2))
                }
                _ => None,
            }
        }
    });
    let dropped = patch(first, reqwest::Body::wrap_stream(stream), &rita)
        .header("content-length", (total - first).to_string())
        .send()
        .await;
    assert!(dropped.is_err() || dropped.unwrap().status().as_u16() >= 400);
    let mut offset = 0;
    for _ in 0..50 {
        let head = send(tus(client().head(mh.host.url(&location)), &rita)).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.header("upload-length"), total.to_string());
        offset = head.header("upload-offset").parse::<usize>().unwrap();
        if offset > first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        offset > first && offset <= first + 65536,
        "kept what arrived: {offset}"
    );

    let done = send(patch(offset, png[offset..].to_vec().into(), &rita)).await;
    assert_eq!(done.status, 204, "{:?}", done.json());
    assert_eq!(done.header("upload-offset"), total.to_string());
    let media_id = done.header("folio-media-id").to_string();
    let ready = mh.wait_ready(&media_id, &rita, IMAGE_WAIT).await;
    assert_eq!(
        (ready["filename"].as_str(), ready["size"].as_u64()),
        (Some("plan.png"), Some(total as u64))
    );
    assert_eq!(
        ready["checksum"],
        format!("sha256:{:x}", Sha256::digest(&png))
    );
    assert_eq!(
        get(mh, &format!("/api/v1/media/{media_id}/content"), &[])
            .await
            .bytes,
        png
    );
    let upload_id = location.rsplit('/').next().unwrap();
    assert_eq!(
        mh.stored_keys(&format!("uploads/{upload_id}/")).await,
        Vec::<String>::new(),
        "parts are gone"
    );

    // The connection drops just after the last byte: the file is taken in
    // even so, and a client that resumes (HEAD) learns the item; had the
    // request ended before that, the HEAD takes the file in itself.
    let created = send(
        tus(client().post(mh.host.url("/api/v1/media/uploads")), &rita)
            .header("upload-length", total.to_string()),
    )
    .await;
    let location = created.header("location").to_string();
    let all = png.clone();
    let stream = futures_util::stream::unfold(0, move |step| {
        let all = all.clone();
        async move {
            match step {
                0 => Some((Ok(bytes::Bytes::from(all)), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    Some((Err(std::io::Error::other("connection lost")), 2))
                }
                _ => None,
            }
        }
    });
    let _ = tus(client().patch(mh.host.url(&location)), &rita)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "0")
        // Chunked: with a Content-Length the client would stop at the last
        // byte and never send the break.
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    let mut head = send(tus(client().head(mh.host.url(&location)), &rita)).await;
    for _ in 0..50 {
        if head.header("upload-offset") == total.to_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        head = send(tus(client().head(mh.host.url(&location)), &rita)).await;
    }
    assert_eq!(head.status, 200);
    assert_eq!(head.header("upload-offset"), total.to_string());
    let state = send(tus(client().get(mh.host.url(&location)), &rita)).await;
    let media_id = state.json()["mediaId"]
        .as_str()
        .expect("a complete upload names its item")
        .to_string();
    let ready = mh.wait_ready(&media_id, &rita, IMAGE_WAIT).await;
    assert_eq!(ready["size"].as_u64(), Some(total as u64));

    // An upload that turns out not to be media ends, and leaves nothing.
    let created = send(
        tus(client().post(mh.host.url("/api/v1/media/uploads")), &rita)
            .header("upload-length", "12"),
    )
    .await;
    let location = created.header("location").to_string();
    let r = send(
        tus(client().patch(mh.host.url(&location)), &rita)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", "0")
            .body("plain text!!"),
    )
    .await;
    assert_eq!(r.status, 415);
    assert_eq!(
        send(tus(client().head(mh.host.url(&location)), &rita))
            .await
            .status,
        404
    );
}

//! The media service, black-box through the host with real backends: uploads
//! (streamed, multipart, resumable), refusals that leave nothing behind,
//! image renditions made in Wasm, audio and video through real ffmpeg,
//! delivery with ranges and transforms, deletion — on local disk and on S3.

use std::time::Duration;

use folio_tests::media::{
    MediaBackends, MediaHost, S3, ffmpeg_pids_under, s3_from_env, start_media, test_audio,
    test_video,
};
use folio_tests::media_flows::*;
use folio_tests::reqwest;
use folio_tests::services::unique;
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, client};
use image::{ImageFormat, RgbImage};
use serde_json::json;

#[tokio::test]
async fn images_on_disk() {
    let mh = start_media("media-disk", MediaBackends::default(), &[], &[]);
    images(&mh, false).await;
    resumable(&mh).await;
}

#[tokio::test]
async fn audio_and_video_on_disk() {
    let mh = start_media("media-av-disk", MediaBackends::default(), &[], &[]);
    audio_and_video(&mh).await;
}

/// The production shape: objects on S3, every database on Postgres.
#[tokio::test]
async fn everything_on_s3_and_postgres() {
    let s3 = s3_from_env();
    let postgres = std::env::var("FOLIO_TEST_POSTGRES_URL")
        .expect("FOLIO_TEST_POSTGRES_URL is not set: run `bash infra/postgres.sh` and export it");
    folio_tests::drop_schemas(
        &postgres,
        &[
            "folio_media_s3",
            "folio_media_s3_events",
            "folio_media_s3_media",
        ],
    )
    .await;
    let backends = MediaBackends {
        s3: Some(s3.clone()),
        postgres: Some(postgres),
    };
    let mh = start_media("media-s3", backends, &[], &[]);
    images(&mh, false).await;
    audio_and_video(&mh).await;
    resumable(&mh).await;
    drop(mh);
    let redirecting = start_media(
        "media-s3-redirect",
        MediaBackends {
            s3: Some(S3 {
                prefix: format!("{}r/", s3.prefix),
                ..s3
            }),
            postgres: None,
        },
        &[("media_delivery", "redirect")],
        &[],
    );
    images(&redirecting, true).await;
}

/// A killed ffmpeg fails the attempt with its stderr, and the worker's retry
/// finishes the job; a cancel stops a transcode for good.
#[tokio::test]
async fn killed_ffmpeg_fails_the_attempt_and_the_retry_succeeds() {
    let mh = start_media("media-kill", MediaBackends::default(), &[], &[]);
    let api = mh.api();
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (kim, _) = api.user_with_role(&admin, "kim", "creator", &run).await;
    let dir = tempfile::tempdir().unwrap();
    let video = std::fs::read(test_video(dir.path(), "long.mp4", 12, "1280x720")).unwrap();

    let id = new_uuid();
    assert_eq!(
        put(&mh, &kim, &id, "long.mp4", "video/mp4", video.clone())
            .await
            .status,
        201
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let pid = loop {
        if let Some(pid) = ffmpeg_pids_under(&mh.data_dir).first() {
            break *pid;
        }
        assert!(std::time::Instant::now() < deadline, "no ffmpeg started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    folio_tests::send_signal(pid, "KILL");
    let failed = mh
        .wait_for(&id, &kim, Duration::from_secs(30), |m| {
            m["status"] == "failed"
        })
        .await;
    let error = failed["processing"]["error"].as_str().unwrap();
    assert!(error.contains("signal"), "{error}");
    // The worker's retry (after its backoff) runs the job again.
    let ready = mh
        .wait_for(&id, &kim, VIDEO_WAIT, |m| m["status"] == "ready")
        .await;
    assert_eq!(ready["processing"]["attempts"], 2);
    assert_eq!(ready["renditions"].as_array().unwrap().len(), 4);

    // Cancelling: the job stops, ffmpeg is gone, no retry follows.
    let id = new_uuid();
    assert_eq!(
        put(&mh, &kim, &id, "long.mp4", "video/mp4", video)
            .await
            .status,
        201
    );
    mh.wait_for(&id, &kim, Duration::from_secs(60), |m| {
        m["status"] == "processing" && !ffmpeg_pids_under(&mh.data_dir).is_empty()
    })
    .await;
    let r = api
        .post(&format!("/api/v1/media/{id}/cancel"), Some(&kim), json!({}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let cancelled = mh
        .wait_for(&id, &kim, Duration::from_secs(30), |m| {
            m["status"] == "failed"
        })
        .await;
    assert_eq!(
        cancelled["processing"]["error"],
        "transcoding was cancelled"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        ffmpeg_pids_under(&mh.data_dir).is_empty(),
        "ffmpeg still runs"
    );
    let later = api.get(&format!("/api/v1/media/{id}"), Some(&kim)).await;
    assert_eq!(
        (
            later.body["status"].as_str(),
            later.body["processing"]["attempts"].as_u64()
        ),
        (Some("failed"), Some(1))
    );
    assert_nothing_stored_but_original(&mh, &id).await;
}

async fn assert_nothing_stored_but_original(mh: &MediaHost, id: &str) {
    let keys = mh.stored_keys(&format!("media/{id}/")).await;
    assert!(
        keys.len() == 1 && keys[0].starts_with(&format!("media/{id}/original-")),
        "{keys:?}"
    );
}

/// A body that sends `bytes[..split]`, waits `pause`, then sends the rest.
fn paused_body(bytes: Vec<u8>, split: usize, pause: Duration) -> reqwest::Body {
    let stream = futures_util::stream::unfold(0, move |step| {
        let bytes = bytes.clone();
        async move {
            let chunk = match step {
                0 => bytes[..split].to_vec(),
                1 => {
                    tokio::time::sleep(pause).await;
                    bytes[split..].to_vec()
                }
                _ => return None,
            };
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), step + 1))
        }
    });
    reqwest::Body::wrap_stream(stream)
}

fn put_body(mh: &MediaHost, token: &str, id: &str, body: reqwest::Body) -> reqwest::RequestBuilder {
    client()
        .put(mh.host.url(&format!("/api/v1/media/{id}")))
        .bearer_auth(token)
        .body(body)
}

/// Uploads of one id at once, an upload slower than the expiry, an
/// abandoned resumable upload, and a crash between storing an original and
/// recording its item: none leaves an object behind or overwrites another.
#[tokio::test]
async fn raced_abandoned_and_crashed_uploads_leave_nothing_behind() {
    let mut mh = start_media(
        "media-sweep",
        MediaBackends::default(),
        &[("media_upload_expiry_seconds", "3")],
        &[],
    );
    let run = unique();
    let (admin, _) = mh
        .api()
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (sam, _) = mh
        .api()
        .user_with_role(&admin, "sam", "creator", &run)
        .await;

    // Two uploads of one id: the first to finish makes the item, the other
    // is refused, and only the winner's bytes are stored.
    let id = new_uuid();
    let slow_png = encode(&photo(300, 200), ImageFormat::Png);
    let fast_png = encode(&photo(200, 300), ImageFormat::Png);
    let slow = tokio::spawn(send(put_body(
        &mh,
        &sam,
        &id,
        paused_body(slow_png, 8192, Duration::from_millis(1500)),
    )));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fast = send(put_body(&mh, &sam, &id, fast_png.clone().into())).await;
    assert_eq!(fast.status, 201, "{:?}", fast.json());
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, 409, "{:?}", slow.json());
    mh.wait_ready(&id, &sam, IMAGE_WAIT).await;
    assert!(
        get(&mh, &format!("/api/v1/media/{id}/content"), &[])
            .await
            .bytes
            == fast_png,
        "the item serves the bytes of the upload that made it"
    );
    let originals: Vec<String> = mh
        .stored_keys(&format!("media/{id}/"))
        .await
        .into_iter()
        .filter(|k| k.contains("/original-"))
        .collect();
    assert_eq!(originals.len(), 1, "{originals:?}");

    // An upload that outlasts the expiry is ended by the sweeper: refused at
    // its last byte, with nothing kept.
    let id = new_uuid();
    let png = encode(&photo(300, 200), ImageFormat::Png);
    let late = send(put_body(
        &mh,
        &sam,
        &id,
        paused_body(png, 8192, Duration::from_secs(6)),
    ))
    .await;
    assert_eq!(late.status, 408, "{:?}", late.json());
    assert_nothing_stored(&mh, &id).await;
    assert_eq!(
        mh.api()
            .get(&format!("/api/v1/media/{id}"), Some(&sam))
            .await
            .status,
        404
    );

    // A resumable upload left unfinished goes, with its parts.
    let created = send(
        tus(client().post(mh.host.url("/api/v1/media/uploads")), &sam)
            .header("upload-length", "5000"),
    )
    .await;
    assert_eq!(created.status, 201);
    let location = created.header("location").to_string();
    let upload_id = location.rsplit('/').next().unwrap().to_string();
    let part = send(
        tus(client().patch(mh.host.url(&location)), &sam)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", "0")
            .body(vec![0u8; 1000]),
    )
    .await;
    assert_eq!(part.status, 204);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let head = send(tus(client().head(mh.host.url(&location)), &sam)).await;
        if head.status == 404 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", head.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        mh.stored_keys(&format!("uploads/{upload_id}/")).await,
        Vec::<String>::new()
    );

    // The host dies while it checks a stored original (a large image takes
    // a while to decode): after the restart, the sweeper deletes the
    // original no item names, and the id can be uploaded again.
    let id = new_uuid();
    let large = encode(
        &RgbImage::from_fn(5000, 4000, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        }),
        ImageFormat::Png,
    );
    let crashed = tokio::spawn(put_body(&mh, &sam, &id, large.into()).send());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while mh.stored_keys(&format!("media/{id}/")).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the original never appeared"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    mh.kill_and_restart();
    let answer = crashed.await.unwrap();
    assert!(
        answer.is_err(),
        "the upload was answered before the crash: {:?}",
        answer.map(|r| r.status())
    );
    assert_eq!(
        mh.api()
            .get(&format!("/api/v1/media/{id}"), Some(&sam))
            .await
            .status,
        404,
        "the crash came before the item was recorded"
    );
    wait_until_nothing_stored(&mh, &id).await;
    let again = put(&mh, &sam, &id, "again.png", "image/png", fast_png).await;
    assert_eq!(again.status, 201, "{:?}", again.json());
}

/// Transcoding is a grant (`[component.NAME.tool.folio] transcode = true`):
/// without it the same media service cannot run ffmpeg, not even a probe.
#[tokio::test]
async fn a_component_not_granted_transcoding_cannot_run_ffmpeg() {
    let mut mh = start_media("media-no-ffmpeg", MediaBackends::default(), &[], &[]);
    mh.restart_with_manifest(|m| {
        assert!(m.contains("transcode = true\n"));
        m.replace("transcode = true\n", "")
    });
    let api = mh.api();
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (vera, _) = api.user_with_role(&admin, "vera", "creator", &run).await;
    let dir = tempfile::tempdir().unwrap();
    let audio = std::fs::read(test_audio(dir.path(), "tone.wav", 1)).unwrap();
    let r = put(&mh, &vera, &new_uuid(), "tone.wav", "audio/wav", audio).await;
    assert_eq!(r.status, 503, "{:?}", r.json());
    let detail = r.json()["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("not allowed"), "{detail}");
    assert!(ffmpeg_pids_under(&mh.data_dir).is_empty());
}

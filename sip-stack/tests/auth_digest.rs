//! Published Digest test vectors verify through the header parser and the computation:
//! RFC 2617 §3.5 and RFC 7616 §3.9.1 (MD5 and SHA-256).

use cardea_sip::auth::{Algorithm, DigestCredentials, Ha1, HashFn};
use cardea_sip::typed::{Authorization, TypedHeader};

fn credentials(header: &str) -> DigestCredentials {
    let a = Authorization::decode(header).expect("header parses");
    DigestCredentials::from_auth(&a).expect("Digest credentials")
}

#[test]
fn rfc2617_section_3_5_example_verifies() {
    let c = credentials(
        r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
    );
    let ha1 = Ha1::from_password(
        HashFn::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert!(c.verify(&ha1, "GET"));
    let wrong = Ha1::from_password(
        HashFn::Md5,
        "Mufasa",
        "testrealm@host.com",
        "circle of life",
    );
    assert!(!c.verify(&wrong, "GET"));
    assert!(!c.verify(&ha1, "POST"));
}

const RFC7616_PASSWORD: &str = "Circle of Life";
const RFC7616_REALM: &str = "http-auth@example.org";

#[test]
fn rfc7616_section_3_9_1_md5_example_verifies() {
    let c = credentials(
        r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="8ca523f5e9506fed4657c9700eebdbec", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
    );
    assert_eq!(c.algorithm, Algorithm::Md5);
    let ha1 = Ha1::from_password(HashFn::Md5, "Mufasa", RFC7616_REALM, RFC7616_PASSWORD);
    assert!(c.verify(&ha1, "GET"));
}

#[test]
fn rfc7616_section_3_9_1_sha256_example_verifies() {
    let c = credentials(
        r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
    );
    assert_eq!(c.algorithm, Algorithm::Sha256);
    let ha1 = Ha1::from_password(HashFn::Sha256, "Mufasa", RFC7616_REALM, RFC7616_PASSWORD);
    assert!(c.verify(&ha1, "GET"));
    // An MD5 HA1 cannot verify a SHA-256 answer.
    let md5 = Ha1::from_password(HashFn::Md5, "Mufasa", RFC7616_REALM, RFC7616_PASSWORD);
    assert!(!c.verify(&md5, "GET"));
}

#[test]
fn stored_ha1_verifies_like_the_password() {
    let c = credentials(
        r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629FAE49393A05397450978507C4EF1""#,
    );
    let from_pw = Ha1::from_password(
        HashFn::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    let stored = Ha1::from_hex(HashFn::Md5, &from_pw.as_hex().to_ascii_uppercase()).unwrap();
    assert_eq!(stored, from_pw);
    assert!(c.verify(&stored, "GET"));
}

#[test]
fn credentials_missing_a_parameter_are_refused() {
    let a =
        Authorization::decode(r#"Digest username="u", realm="r", nonce="n", uri="sip:x""#).unwrap();
    assert!(DigestCredentials::from_auth(&a).is_err());
    let b = Authorization::decode(
        r#"Digest username="u", realm="r", nonce="n", uri="sip:x", response="00", qop=auth"#,
    )
    .unwrap();
    assert!(
        DigestCredentials::from_auth(&b).is_err(),
        "qop without cnonce/nc"
    );
}

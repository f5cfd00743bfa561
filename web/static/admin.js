// Akari admin pages: the WebAuthn ceremony (the only part of the viewer that needs
// JavaScript) and print buttons. Forms marked data-webauthn="login" | "register" post
// JSON to their data-begin / data-finish URLs with the session's CSRF token in the
// X-CSRF-Token header; binary fields travel as base64url.
(function () {
  'use strict';

  var b64urlToBuf = window.akariWebAuthn.toBuf;
  var bufToB64url = window.akariWebAuthn.fromBuf;
  var requestOptions = window.akariWebAuthn.requestOptions;
  var assertionJson = window.akariWebAuthn.assertionJson;

  function postJson(url, body, csrf) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { throw new Error(j.error || ('HTTP ' + r.status)); }
        return j;
      });
    });
  }

  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user.id = b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return { publicKey: pk };
  }

  function registrationJson(c) {
    return {
      id: c.id,
      rawId: bufToB64url(c.rawId),
      type: c.type,
      response: {
        attestationObject: bufToB64url(c.response.attestationObject),
        clientDataJSON: bufToB64url(c.response.clientDataJSON)
      },
      extensions: {}
    };
  }

  function fields(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && el.name !== 'csrf') { out[el.name] = el.value; }
    });
    return out;
  }

  function showError(message) {
    var box = document.getElementById('admin-error');
    if (box) { box.textContent = message; box.hidden = false; } else { window.alert(message); }
  }

  function ceremony(form) {
    var kind = form.getAttribute('data-webauthn');
    var csrf = form.elements.csrf.value;
    var data = fields(form);
    var button = form.querySelector('button[type=submit]');
    if (button) { button.disabled = true; }
    var begin = kind === 'login' ? { admin_id: data.admin_id } : data;
    postJson(form.getAttribute('data-begin'), begin, csrf).then(function (challenge) {
      if (kind === 'login') {
        return navigator.credentials.get(requestOptions(challenge.options)).then(function (cred) {
          return postJson(form.getAttribute('data-finish'), {
            admin_id: data.admin_id,
            password: data.password,
            ceremony_id: challenge.ceremony_id,
            response: assertionJson(cred)
          }, csrf);
        });
      }
      return navigator.credentials.create(creationOptions(challenge.options)).then(function (cred) {
        return postJson(form.getAttribute('data-finish'), {
          ceremony_id: challenge.ceremony_id,
          response: registrationJson(cred)
        }, csrf);
      });
    }).then(function (done) {
      window.location.assign(done.redirect || '/admin');
    }).catch(function (e) {
      showError(e && e.message ? e.message : String(e));
      if (button) { button.disabled = false; }
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    Array.prototype.forEach.call(document.querySelectorAll('form[data-webauthn]'), function (form) {
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        if (!window.PublicKeyCredential) {
          showError('WebAuthn is not available in this browser.');
          return;
        }
        ceremony(form);
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll('[data-print]'), function (b) {
      b.addEventListener('click', function () { window.print(); });
    });
  });
}());

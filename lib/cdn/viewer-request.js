// The path guard for every object request: a CloudFront Function (viewer request,
// runtime cloudfront-js-2.0) on the distribution's object behaviours, and the very same
// source, run by lib/cdn/viewer-request.ts, on every object request of the local origin
// and the mirror. Plain ES5 in one file because CloudFront takes function code as text.
//
// It decodes the path once and refuses anything that is not a canonical object name
// before any cache, signature check or origin sees it: encoded slash, dot, backslash,
// percent (double encoding) or NUL; dot segments; empty segments; characters outside the
// set published names use; names longer than any object has. An accepted request goes on
// with its URI rewritten to the decoded form, so the cache key, the signed-URL resource
// and the bucket key are one string.
//
// Limits (a test keeps them equal to lib/definitions/bucket.ts):
//   MAX_KEY_LENGTH      S3's limit on an object key.
//   MAX_SEGMENT_LENGTH  longer than any stored name; short enough for stores that keep a
//                       segment as a file name (filesystems allow 255 bytes).

var MAX_KEY_LENGTH = 1024;
var MAX_SEGMENT_LENGTH = 200;
var SEGMENT = /^[A-Za-z0-9._-]+$/;
// %2e . %2f / %5c \ %25 % %00 NUL, in either case: never part of a canonical name.
var ENCODED_SEPARATOR = /%(2e|2f|5c|25|00)/i;
var MALFORMED_ESCAPE = /%(?![0-9a-fA-F]{2})/;

function refuse(statusCode, code, message) {
  return {
    statusCode: statusCode,
    statusDescription: statusCode === 404 ? 'Not Found' : 'Bad Request',
    headers: {
      'content-type': { value: 'application/json' },
      'cache-control': { value: 'no-store' },
    },
    body: { encoding: 'text', data: JSON.stringify({ error: { code: code, message: message } }) },
  };
}

function checkPath(uri) {
  if (typeof uri !== 'string' || uri.charAt(0) !== '/') return refuse(400, 'INVALID_REQUEST', 'the path must start with /');
  if (uri.length > 3 * MAX_KEY_LENGTH + 1) return refuse(404, 'NOT_FOUND', 'no object has a name this long');
  if (MALFORMED_ESCAPE.test(uri)) return refuse(400, 'INVALID_REQUEST', 'the path has a malformed percent-encoding');
  if (ENCODED_SEPARATOR.test(uri)) {
    return refuse(400, 'INVALID_REQUEST', 'the path encodes a dot, slash, backslash, percent or NUL');
  }
  var path;
  try {
    path = decodeURIComponent(uri);
  } catch (e) {
    return refuse(400, 'INVALID_REQUEST', 'the path is not valid UTF-8 once decoded');
  }
  if (path.length - 1 > MAX_KEY_LENGTH) return refuse(404, 'NOT_FOUND', 'no object has a name this long');
  var segments = path.slice(1).split('/');
  for (var i = 0; i < segments.length; i++) {
    var segment = segments[i];
    if (segment === '') return refuse(400, 'INVALID_REQUEST', 'the path has an empty segment');
    if (segment === '.' || segment === '..') return refuse(400, 'INVALID_REQUEST', 'the path has a dot segment');
    if (!SEGMENT.test(segment)) {
      return refuse(400, 'INVALID_REQUEST', 'the path has characters no object name uses (A-Z a-z 0-9 . _ - only)');
    }
    if (segment.length > MAX_SEGMENT_LENGTH) return refuse(404, 'NOT_FOUND', 'no object has a name this long');
  }
  return path;
}

/* exported handler */
function handler(event) {
  var request = event.request;
  var checked = checkPath(request.uri);
  if (typeof checked !== 'string') return checked;
  request.uri = checked;
  return request;
}

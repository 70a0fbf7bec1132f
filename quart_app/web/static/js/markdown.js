// Model output as DOM, built only from text nodes and elements made here: never innerHTML,
// so a model (or whoever put words in its mouth) cannot run script or add attributes.
//
// Understood: fenced code blocks, paragraphs and line breaks, headings, list items, inline
// code, bold, links ([text](url), bare http(s) URLs), images (![alt](url)), and the media
// the gateway itself writes into chat answers (features.image_format / video_format):
// `![image](url)`, a bare file link, `<video controls src="…"></video>`, and
// `<a href="…" target="_blank"><img src="…" alt="video"/></a>`. Every other tag stays text.
// Media is embedded only from this origin or a data:image URI (what the page's CSP allows);
// anything else becomes a plain link.
import { h } from './core.js';

const FILE_IMAGE = /\/v1\/files\/image\?/;
const FILE_VIDEO = /\/v1\/files\/video\?/;

/** `raw` as an absolute http(s) URL, or null (javascript:, data: and the like). */
export function safeUrl(raw) {
  try {
    const url = new URL(raw, location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

function embeddable(raw) {
  if (/^data:image\/(png|jpeg|jpg|webp|gif);base64,[A-Za-z0-9+/=]+$/.test(raw)) return raw;
  const url = safeUrl(raw);
  return url && url.origin === location.origin ? url.href : null;
}

function link(href, text) {
  const url = safeUrl(href);
  if (!url) return document.createTextNode(text);
  return h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer' }, text);
}

function image(src, alt) {
  const ok = embeddable(src);
  if (!ok) return link(src, alt || src);
  return h('a', { href: ok, target: '_blank', rel: 'noopener noreferrer', class: 'media-link' },
    h('img', { src: ok, alt: alt || 'image', class: 'chat-media', loading: 'lazy' }));
}

function video(src, poster) {
  const ok = embeddable(src);
  if (!ok) return link(src, src);
  const props = { src: ok, controls: true, preload: 'metadata', class: 'chat-media' };
  const still = poster && embeddable(poster);
  if (still) props.poster = still;
  return h('video', props);
}

/** A bare URL: a file of the gateway's cache is shown, anything else linked. */
function bareUrl(raw) {
  if (FILE_IMAGE.test(raw)) return image(raw, 'image');
  if (FILE_VIDEO.test(raw)) return video(raw);
  return link(raw, raw);
}

function attr(tag, name) {
  const m = tag.match(new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, 'i'));
  return m ? decodeEntities(m[1]) : null;
}

function decodeEntities(text) {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, e) => (
    { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" }[e]));
}

// inline tokens, tried in this order at each position
const INLINE = new RegExp([
  /<video\b[^>]*\bsrc="[^"]*"[^>]*>\s*<\/video>/.source, // the gateway's video
  /<a\b[^>]*\bhref="[^"]*"[^>]*>\s*<img\b[^>]*>\s*<\/a>/.source, // a video with a poster
  /<a\b[^>]*\bhref="[^"]*"[^>]*>video<\/a>/.source, // a video without one
  /!\[[^\]]*\]\([^)\s]+\)/.source, // image
  /\[[^\]]+\]\([^)\s]+\)/.source, // link
  /`[^`\n]+`/.source, // inline code
  /\*\*[^*\n]+\*\*/.source, // bold
  /https?:\/\/[^\s<>()"']+/.source, // bare URL
].join('|'), 'g');

function inline(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(token(m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function token(tok) {
  if (tok.startsWith('<video')) return video(attr(tok, 'src'), attr(tok, 'poster'));
  if (tok.startsWith('<a')) {
    const img = tok.match(/<img\b[^>]*>/i);
    return video(attr(tok, 'href'), img ? attr(img[0], 'src') : null);
  }
  if (tok.startsWith('![')) {
    const m = tok.match(/^!\[([^\]]*)\]\(([^)\s]+)\)$/);
    return image(m[2], m[1]);
  }
  if (tok.startsWith('[')) {
    const m = tok.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
    return link(m[2], m[1]);
  }
  if (tok.startsWith('`')) return h('code', {}, tok.slice(1, -1));
  if (tok.startsWith('**')) return h('strong', {}, tok.slice(2, -2));
  const trail = tok.match(/[.,;:!?]+$/); // "see https://x.org." keeps its full stop
  const url = trail ? tok.slice(0, -trail[0].length) : tok;
  return trail ? [bareUrl(url), trail[0]] : bareUrl(url);
}

function lines(text) {
  const out = [];
  text.split('\n').forEach((line, i) => {
    if (i) out.push(h('br'));
    out.push(inline(line));
  });
  return out;
}

function block(par) {
  const heading = par.match(/^(#{1,4})\s+(.*)$/);
  if (heading && !par.includes('\n')) return h(`h${heading[1].length + 2}`, {}, inline(heading[2]));
  const rows = par.split('\n');
  if (rows.every((r) => /^\s*([-*]|\d+\.)\s+/.test(r))) {
    const ordered = /^\s*\d+\./.test(rows[0]);
    return h(ordered ? 'ol' : 'ul', {}, rows.map((r) => h('li', {}, inline(r.replace(/^\s*([-*]|\d+\.)\s+/, '')))));
  }
  return h('p', {}, lines(par));
}

/** `text` (markdown-ish model output) as a fragment of safe DOM. */
export function renderMarkdown(text) {
  const frag = document.createDocumentFragment();
  const parts = text.split(/^```/m);
  parts.forEach((part, i) => {
    if (i % 2 === 1) { // inside a fence: the first line names the language
      const nl = part.indexOf('\n');
      const lang = nl < 0 ? '' : part.slice(0, nl).trim();
      const code = nl < 0 ? '' : part.slice(nl + 1).replace(/\n$/, '');
      frag.append(h('pre', { class: 'code' }, h('code', { dataset: lang ? { lang } : undefined }, code)));
      return;
    }
    for (const par of part.split(/\n{2,}/)) {
      if (par.trim()) frag.append(block(par.replace(/^\n+|\n+$/g, '')));
    }
  });
  return frag;
}

// Final composite: none, blur, replace (with clean edges and light wrap), or the mask overlay. Draws either the frame-sized
// offscreen output (u_rect = whole target, no flip) or straight into a widget's framebuffer: aspect kept
// inside u_rect, letterbox outside, optional mirror, and the flip from top-first image rows to GL's bottom-up
// window rows. All layers are sampled bilinearly at the output pixel's position in the frame (at exact texel
// centres in the offscreen case, where that is the texel itself).
#include "common.glsl"
uniform sampler2D u_frame;
uniform sampler2D u_weight;   // refine resolution
uniform sampler2D u_blur;     // blurred background, blur resolution
uniform sampler2D u_bg;       // replacement background fitted to the frame
uniform sampler2D u_wrap;     // light (rgb) and e (a), blur resolution
uniform sampler2D u_fg;       // clean edges: local person colour Fs (rgb), fg resolution
uniform sampler2D u_bgc;      // clean edges: local background colour Bs (rgb), fg resolution
uniform sampler2D u_edge;     // clean edges: the edge band (r), blur resolution
uniform vec4 u_rect;          // where the image goes in the target, pixels
uniform bool u_flip;
uniform bool u_mirror;
uniform int u_mode;           // 0 none, 1 blur, 2 replace, 3 mask
uniform bool u_wrap_on;
uniform bool u_wrap_add;
uniform bool u_clean;
out vec4 o;
void main() {
    vec2 uv = (gl_FragCoord.xy - u_rect.xy) / u_rect.zw;
    if (uv.x < 0.0 || uv.y < 0.0 || uv.x > 1.0 || uv.y > 1.0) { o = vec4(LETTERBOX, 1.0); return; }
    if (u_flip) uv.y = 1.0 - uv.y;
    if (u_mirror) uv.x = 1.0 - uv.x;
    vec3 f = texture(u_frame, uv).rgb;
    float w = texture(u_weight, uv).r;
    vec3 c = f;
    if (u_mode == 1) {
        vec3 b = texture(u_blur, uv).rgb;
        c = b + (f - b) * w;
    } else if (u_mode == 2) {
        if (u_clean) {   // the person's own colour and the colour's own alpha at the edge (see effects.py)
            vec3 fs = texture(u_fg, uv).rgb;
            vec3 bs = texture(u_bgc, uv).rgb;
            vec3 d = fs - bs;
            float dd = dot(d, d);
            float ah = clamp(dot(f - bs, d) / max(dd, 1e-6), 0.0, 1.0);
            float cf = clamp(dd * (1.0 / FG_CONF), 0.0, 1.0) * texture(u_edge, uv).r;
            w = w + (min(w, ah) - w) * cf;
            f = clamp(fs + w * (f - w * fs - (1.0 - w) * bs), 0.0, 1.0);
        }
        if (u_wrap_on) {
            vec4 wr = texture(u_wrap, uv);
            float e = wr.a;   // weight * surrounding background * strength
            vec3 lit = u_wrap_add ? min(f + wr.rgb, 1.0) : 1.0 - (1.0 - f) * (1.0 - wr.rgb);
            f = f + (lit - f) * e;
        }
        vec3 b = texture(u_bg, uv).rgb;
        c = b + (f - b) * w;
    } else if (u_mode == 3) {
        float a = 0.5 * w;
        c = f * (1.0 - a) + MASK_TINT * a;
    }
    o = vec4(c, 1.0);   // alpha 1 in the final pass
}

// A finished image (the CPU twin's) shown in a widget's framebuffer: aspect kept inside u_rect, letterbox
// outside, optional mirror, rows flipped to GL's bottom-up order. One texture fetch: on a software rasteriser
// the full composite's program, even on its plain path, cost twice as much per pixel.
#include "common.glsl"
uniform sampler2D u_frame;
uniform vec4 u_rect;
uniform bool u_mirror;
out vec4 o;
void main() {
    vec2 uv = (gl_FragCoord.xy - u_rect.xy) / u_rect.zw;
    if (uv.x < 0.0 || uv.y < 0.0 || uv.x > 1.0 || uv.y > 1.0) { o = vec4(LETTERBOX, 1.0); return; }
    uv.y = 1.0 - uv.y;
    if (u_mirror) uv.x = 1.0 - uv.x;
    o = vec4(texture(u_frame, uv).rgb, 1.0);
}

// Draws the composited frame into a widget's framebuffer: aspect kept (letterbox), optional mirror, and the
// flip from top-first image rows to GL's bottom-up window rows.
uniform sampler2D u_image;
uniform vec4 u_rect;      // x, y, w, h of the image inside the viewport, in device pixels
uniform bool u_mirror;
out vec4 o;
void main() {
    vec2 uv = (gl_FragCoord.xy - u_rect.xy) / u_rect.zw;
    if (uv.x < 0.0 || uv.y < 0.0 || uv.x > 1.0 || uv.y > 1.0) { o = vec4(0.09, 0.09, 0.1, 1.0); return; }
    uv.y = 1.0 - uv.y;
    if (u_mirror) uv.x = 1.0 - uv.x;
    o = vec4(texture(u_image, uv).rgb, 1.0);
}

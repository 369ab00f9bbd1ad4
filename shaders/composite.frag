// Full-resolution composite: none, blur, replace (with light wrap), or the mask overlay.
#include "common.glsl"
uniform sampler2D u_frame;
uniform sampler2D u_weight;   // refine resolution
uniform sampler2D u_blur;     // blurred background, blur resolution
uniform sampler2D u_bg;       // replacement background fitted to the frame
uniform sampler2D u_wrap;     // light (rgb) and surrounding background (a), blur resolution
uniform ivec2 u_size;         // frame size
uniform int u_mode;           // 0 none, 1 blur, 2 replace, 3 mask
uniform bool u_wrap_on;
uniform bool u_wrap_add;
uniform vec3 u_tint;
out vec4 o;
void main() {
    ivec2 p = pixel();
    vec3 f = texelFetch(u_frame, p, 0).rgb;
    float w = sample_at(u_weight, p, u_size).r;
    vec3 c = f;
    if (u_mode == 1) {
        vec3 b = sample_at(u_blur, p, u_size).rgb;
        c = b + (f - b) * w;
    } else if (u_mode == 2) {
        if (u_wrap_on) {
            vec4 wr = sample_at(u_wrap, p, u_size);
            float e = wr.a;   // already weight * surrounding background * strength
            vec3 lit = u_wrap_add ? min(f + wr.rgb, 1.0) : 1.0 - (1.0 - f) * (1.0 - wr.rgb);
            f = f + (lit - f) * e;
        }
        vec3 b = texelFetch(u_bg, p, 0).rgb;
        c = b + (f - b) * w;
    } else if (u_mode == 3) {
        float a = 0.5 * w;
        c = f * (1.0 - a) + u_tint * a;
    }
    o = vec4(c, 1.0);   // alpha 1 in the final pass
}

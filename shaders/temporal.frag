// Temporal smoothing of the model's mask at mask resolution: an EMA whose rate rises with the change, so
// jitter is damped but real motion passes through at once (no lag behind fast movement).
#include "common.glsl"
uniform sampler2D u_raw;
uniform sampler2D u_prev;
uniform float u_smoothing;
uniform bool u_first;
out vec4 o;
void main() {
    ivec2 p = pixel();
    float raw = texelFetch(u_raw, p, 0).r;
    if (u_first || u_smoothing <= 0.0) { o = vec4(raw, 0.0, 0.0, 1.0); return; }
    float prev = texelFetch(u_prev, p, 0).r;
    float d = raw - prev;
    float a = (1.0 - u_smoothing) + u_smoothing * smoothstep_weight(TEMPORAL_EDGES, abs(d));
    o = vec4(prev + a * d, 0.0, 0.0, 1.0);
}

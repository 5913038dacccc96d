using AttentionWise.Kernels;

namespace AttentionWise.Ops;

/// <summary>Adam's update of one parameter tensor in place: m, v and p from the gradient (see
/// <see cref="Layers.Adam"/> for the formula); a device-wide element-wise pass.</summary>
internal interface IAdamUpdate
{
    /// <summary>Updates <paramref name="value"/>, <paramref name="m"/> and <paramref name="v"/> from
    /// <paramref name="gradient"/> (all the same length).</summary>
    void Step(DeviceTensor value, DeviceTensor m, DeviceTensor v, DeviceTensor gradient, AdamScalars scalars);
}

//! Tests of the interrupt fabric as the machine will wire it: timers to
//! the i8259 and the IOAPIC, the i8259 to LINT0, the IOAPIC to the local
//! APIC and the local APIC's EOI back to the IOAPIC. They check that
//! interrupts arrive where Linux expects them and that the locks are taken
//! in an order that cannot deadlock (a deadlock hangs the test).

use std::sync::Arc;

use mem::{Attention, BusDevice};
use parking_lot::Mutex;

use crate::clock::{ns_at_tick, Clock, ManualClock, TimerDevice};
use crate::hpet::{self, Hpet, HpetMmio, SharedHpet};
use crate::ioapic::{IoApic, IoApicEoi, IoApicMmio, IoApicPin, SharedIoApic};
use crate::irq::{IrqFanOut, IrqLine, IrqSwitch};
use crate::lapic::{self, LapicAdapter, LapicLint, LapicMsi, LocalApic, SharedLapic};
use crate::pic::{Pic, PicPin, PicPorts, SharedPic};
use crate::pit::{Pit, PitPorts, SharedPit, PIT_HZ};

struct Board {
    clock: Arc<ManualClock>,
    lapic: SharedLapic,
    lapic_bus: LapicAdapter,
    pic: SharedPic,
    pic_master: PicPorts,
    ioapic: SharedIoApic,
    ioapic_bus: IoApicMmio,
    pit: SharedPit,
    pit_ports: PitPorts,
    pit_switch: IrqSwitch,
}

/// The ISA IRQ0 wire: i8259 input 0 and IOAPIC pin 2.
fn irq0(pic: &SharedPic, ioapic: &SharedIoApic) -> Box<dyn IrqLine> {
    Box::new(IrqFanOut::new(vec![
        Box::new(PicPin::new(pic.clone(), 0)),
        Box::new(IoApicPin::new(ioapic.clone(), 2)),
    ]))
}

fn board() -> Board {
    let clock = Arc::new(ManualClock::new(0));
    let attention = Arc::new(Attention::default());
    let lapic: SharedLapic = Arc::new(Mutex::new(LocalApic::new(
        0,
        true,
        2_000_000_000,
        attention,
    )));
    let ioapic: SharedIoApic = Arc::new(Mutex::new(IoApic::new(Arc::new(LapicMsi(lapic.clone())))));
    let lapic_bus = LapicAdapter::new(
        lapic.clone(),
        clock.clone(),
        Arc::new(IoApicEoi(ioapic.clone())),
    );
    let pic: SharedPic = Arc::new(Mutex::new(Pic::new(Box::new(LapicLint::lint0(
        lapic.clone(),
    )))));
    let pit_switch = IrqSwitch::new(irq0(&pic, &ioapic));
    let pit: SharedPit = Arc::new(Mutex::new(Pit::new(Box::new(pit_switch.clone()), 0)));
    Board {
        pic_master: PicPorts::master(pic.clone()),
        ioapic_bus: IoApicMmio::new(ioapic.clone()),
        pit_ports: PitPorts::new(pit.clone(), clock.clone()),
        clock,
        lapic,
        lapic_bus,
        pic,
        ioapic,
        pit,
        pit_switch,
    }
}

fn out(dev: &mut dyn BusDevice, offset: u64, value: u8) {
    dev.write(offset, &[value]);
}

fn mmio32(dev: &mut dyn BusDevice, offset: u64, value: u32) {
    dev.write(offset, &value.to_le_bytes());
}

/// Linux's `init_8259A`, vectors 0x30 and 0x38, everything unmasked on
/// the master.
fn init_pic(b: &mut Board) {
    let mut slave = PicPorts::slave(b.pic.clone());
    for (port, v) in [(0, 0x11), (1, 0x30), (1, 0x04), (1, 0x01), (1, 0x00)] {
        out(&mut b.pic_master, port, v);
    }
    for (port, v) in [(0, 0x11), (1, 0x38), (1, 0x02), (1, 0x01), (1, 0xFF)] {
        out(&mut slave, port, v);
    }
}

/// PIT counter 0 in mode 2 with `count`.
fn pit_periodic(b: &mut Board, count: u16) {
    let [lo, hi] = count.to_le_bytes();
    out(&mut b.pit_ports, 3, 0x34);
    out(&mut b.pit_ports, 0, lo);
    out(&mut b.pit_ports, 0, hi);
}

/// Runs the PIT to its next rising edge of OUT.
fn tick_pit(b: &Board) {
    for _ in 0..2 {
        let d = b.pit.lock().next_deadline().unwrap();
        b.clock.set(d);
        b.pit.lock().service(d);
    }
}

#[test]
fn platform_pit_reaches_cpu_through_pic_virtual_wire() {
    let mut b = board();
    init_pic(&mut b);
    pit_periodic(&mut b, 1000);
    tick_pit(&b);
    // The CPU's view, as the machine's InterruptSource will compute it.
    let extint = b.lapic.lock().extint_pending();
    assert!(extint);
    let vector = b.pic.lock().acknowledge();
    assert_eq!(vector, 0x30);
    assert!(!b.lapic.lock().extint_pending());
}

#[test]
fn platform_pit_reaches_cpu_through_ioapic_pin_2() {
    let mut b = board();
    init_pic(&mut b);
    out(&mut b.pic_master, 1, 0xFF); // Linux masks the PIC
    mmio32(&mut b.lapic_bus, u64::from(lapic::reg::SVR), 0x1FF);
    mmio32(&mut b.lapic_bus, u64::from(lapic::reg::LVT_LINT0), 0x1_0700);
    // IOAPIC pin 2: vector 0x30, edge, physical destination 0.
    out(&mut b.ioapic_bus, 0x00, 0x14);
    mmio32(&mut b.ioapic_bus, 0x10, 0x30);
    pit_periodic(&mut b, 1000);
    tick_pit(&b);
    let mut lapic = b.lapic.lock();
    assert!(!lapic.extint_pending());
    assert_eq!(lapic.acknowledge(), Some(0x30));
}

#[test]
fn platform_level_eoi_round_trip_redelivers_without_deadlock() {
    let mut b = board();
    mmio32(&mut b.lapic_bus, u64::from(lapic::reg::SVR), 0x1FF);
    // Pin 9 (the SCI): level, vector 0x41.
    out(&mut b.ioapic_bus, 0x00, 0x10 + 2 * 9);
    mmio32(&mut b.ioapic_bus, 0x10, 0x8000 | 0x41);
    let sci = IoApicPin::new(b.ioapic.clone(), 9);
    sci.set_level(true);
    assert_eq!(b.lapic.lock().acknowledge(), Some(0x41));
    // EOI while the line is still asserted: the IOAPIC sends again, into
    // the APIC whose EOI write is still in progress.
    mmio32(&mut b.lapic_bus, u64::from(lapic::reg::EOI), 0);
    assert_eq!(b.lapic.lock().acknowledge(), Some(0x41));
    sci.set_level(false);
    mmio32(&mut b.lapic_bus, u64::from(lapic::reg::EOI), 0);
    assert!(!b.ioapic.lock().entry(9).unwrap().remote_irr());
    assert_eq!(b.lapic.lock().pending_vector(), None);
}

#[test]
fn platform_hpet_legacy_replacement_takes_over_irq0() {
    let mut b = board();
    mmio32(&mut b.lapic_bus, u64::from(lapic::reg::SVR), 0x1FF);
    out(&mut b.ioapic_bus, 0x00, 0x14);
    mmio32(&mut b.ioapic_bus, 0x10, 0x30);
    let mut outputs: Vec<Box<dyn IrqLine>> = (0..24)
        .map(|gsi| Box::new(IoApicPin::new(b.ioapic.clone(), gsi)) as Box<dyn IrqLine>)
        .collect();
    outputs[2] = irq0(&b.pic, &b.ioapic);
    let hpet: SharedHpet = Arc::new(Mutex::new(Hpet::new(outputs, vec![b.pit_switch.clone()])));
    let mut mmio = HpetMmio::new(hpet.clone(), b.clock.clone());
    // Legacy replacement on, timer 0 one-shot 32-bit at counter 1000.
    mmio32(&mut mmio, hpet::reg::CONFIG, 0x3);
    mmio32(
        &mut mmio,
        hpet::reg::TIMER0,
        (hpet::timer::INT_ENABLE | hpet::timer::MODE32) as u32,
    );
    mmio32(&mut mmio, hpet::reg::TIMER0 + 8, 1000);
    assert!(!b.pit_switch.connected());
    // The PIT keeps ticking but no longer reaches pin 2.
    pit_periodic(&mut b, 100);
    b.clock.set(ns_at_tick(1000, PIT_HZ));
    b.pit.lock().service(b.clock.now_ns());
    assert_eq!(b.lapic.lock().pending_vector(), None);
    let d = hpet.lock().next_deadline().unwrap();
    hpet.lock().service(d);
    assert_eq!(b.lapic.lock().acknowledge(), Some(0x30));
}
